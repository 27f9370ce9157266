"""Real-kernel netem in QEMU: build a cached initramfs from the checkout, boot it, run a command inside.

For machines whose kernel has no sch_netem (CI sandboxes, WSL2 without modules): a stock Debian kernel
boots under TCG with a debootstrap rootfs plus this checkout; `netem.vm.topology` wires the compose
topology with network namespaces and `netem.engine` applies profiles there with the usual tc argv.
"""
