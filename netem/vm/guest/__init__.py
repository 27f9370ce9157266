"""What runs inside the VM: the topology as network namespaces, the real services in them, the fidelity
suite and a scenario's matrix. Never imported on the host outside tests."""
