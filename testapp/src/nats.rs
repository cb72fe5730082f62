//! The three-node NATS cluster of the tests: testkit's, shared with the benchmarks
//! (`ingest-bench --nats-cluster`).

pub use mimamori_testkit::nats::NatsCluster;
