"""The host's half of the VM: build the cached image from the checkout, boot it under QEMU, and turn
what the guest prints into results and reports (`python -m netem.vm`)."""
