"""Reference service used to exercise the Ansible deploy tooling."""
