"""Real-kernel netem in QEMU: build a cached initramfs from the checkout, boot it, run a command inside.

For machines whose kernel has no sch_netem (CI sandboxes, WSL2 without modules): a stock Debian kernel
boots under TCG with a debootstrap rootfs plus this checkout. `host/` builds and boots the image and reads
the console; `guest/` runs inside it (`guest.netns` wires the compose topology with network namespaces
and `netem.core.engine` applies profiles there with the usual tc argv). The modules here are what both
halves share: the console's row format (`channel`), the scenario spec (`spec`), tolerance checks
(`checks`) and the one exception (`errors`).
"""
