//! The kinds mignet judges, one module each: what makes that object correct, given the shared network
//! model ([`super::net`]) and the cluster [`super::view`].

pub(in crate::policy) mod hco;
mod inflight;
pub(in crate::policy) mod kubevirt;
mod macvlan;
pub(in crate::policy) mod migration_policy;
pub(in crate::policy) mod nad;
pub(in crate::policy) mod nad_host;
pub(in crate::policy) mod nncp;
mod settings;
pub(in crate::policy) mod udn;
mod whereabouts;
