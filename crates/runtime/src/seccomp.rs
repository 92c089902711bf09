//! Seccomp: compile a spec's `linux.seccomp` to a BPF program in the caller, load it in the child.
