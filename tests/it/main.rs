//! Every integration test of wirecache, in one crate: the code compiles and links
//! once, the private origins (`common`) start once per run, and the test names keep
//! their old file names as module paths (`cargo test --test it pg_tls::`).
//!
//! `consistency` and `transactions` hold the promises of design §4 that every
//! protocol keeps, written once and run per origin (`NAME::postgres`,
//! `NAME::mariadb`, see `common::origin`); `pg_*` and `mysql_*` hold what only one
//! protocol has.

// Test and benchmark code may unwrap, index and run long.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::too_many_lines)]

mod common;

mod checker;
mod pg_scripted;

mod admission;
mod cli;
mod cluster;
mod cluster_auth;
mod cluster_gaps;
mod cluster_l2;
mod consistency;
mod consistency_checker;
mod consistency_schema;
mod dashboard;
mod harness_smoke;
mod hostile_mysql;
mod hostile_pg;
mod latency_test;
mod limits;
mod mysql_auth;
mod mysql_catalog_warnings;
mod mysql_clients;
mod mysql_consistency;
mod mysql_kill;
mod mysql_pooled;
mod mysql_pooled_auth;
mod mysql_pooled_clients;
mod mysql_pooled_diagnostics;
mod mysql_pooled_prepared_diag;
mod mysql_pooled_secrets;
mod mysql_pooled_sha2_origin;
mod mysql_pooled_txn;
mod mysql_pooled_txn_clients;
mod mysql_protocol;
mod mysql_tls;
mod mysql_transactions;
mod outage;
mod pg_cacheability;
mod pg_caching;
mod pg_clients;
mod pg_consistency;
mod pg_faults;
mod pg_hangs;
mod pg_intelligence;
mod pg_pgbench;
mod pg_pooled;
mod pg_pooled_auth;
mod pg_pooled_clients;
mod pg_pooled_connect;
mod pg_pooled_secrets;
mod pg_pooled_txn;
mod pg_pooled_txn_clients;
mod pg_pooled_txn_gaps;
mod pg_pooled_txn_parse;
mod pg_pooled_txn_unnamed;
mod pg_protocol;
mod pg_tls;
mod pg_transactions;
mod secrets_in_logs;
mod shutdown;
mod tds_clients;
mod tds_hostile;
mod tds_origin_semantics;
mod tds_outage;
mod tds_output;
mod tds_protocol;
mod tds_rpc;
mod tds_rpc_raw;
mod tds_secrets;
mod tds_shutdown;
mod tds_snapshot;
mod tds_tls;
mod tds_tls_hostile;
mod tds_views;
mod transactions;
mod txn_reads;
