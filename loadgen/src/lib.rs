//! `mignet-loadgen`: drives an admission webhook on this machine over TLS and reports what it sustains.
//!
//! Closed loop measures the highest throughput; open loop offers a fixed rate and measures latency from
//! each request's intended send time, so a stalled server cannot hide behind fewer requests sent. Every
//! URL must name a loopback host: load never leaves the machine.

pub mod cli;
pub mod client;
pub mod mix;
pub mod pace;
pub mod ready;
pub mod report;
pub mod run;
pub mod state;
pub mod target;
