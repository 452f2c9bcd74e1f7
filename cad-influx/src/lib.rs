//! cad-influx: placeholder until its issue lands.
