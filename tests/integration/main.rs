//! One integration-test binary (links DuckDB once), a module per area.

mod common;

mod api;
mod cli;
mod drift;
mod features;
mod generate;
mod incremental;
mod ingest;
mod k8s;
mod model;
mod monitor;
mod prepare;
mod purchase_log;
mod report;
mod safety;
mod spark;
mod steady_state;
mod validate;
