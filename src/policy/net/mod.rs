//! The network model every kind is judged against: CNI configs, address ranges and their index, free
//! subnets, OpenShift's own networks and the hosts' interfaces.

pub mod cni;
pub mod free;
pub mod host;
pub mod index;
pub mod netconfig;
pub mod ranges;
pub mod udn;
