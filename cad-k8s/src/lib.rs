//! cad-k8s: placeholder until its issue lands.
