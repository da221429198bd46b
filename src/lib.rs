//! mignet keeps KubeVirt / OpenShift Virtualization live-migration networks correct.
//!
//! The [`policy`] core judges NetworkAttachmentDefinitions, HyperConvergeds and the objects around them
//! (NNCPs, UDNs/CUDNs, the KubeVirt CR, MigrationPolicies) against a [`view`](policy::view) of the
//! cluster; the CLI, the admission webhook and the live cluster view are thin adapters around it.
#![forbid(unsafe_code)]

pub mod certs;
pub mod cluster;
#[doc(hidden)]
pub mod fuzzing;
pub mod html;
pub mod input;
pub mod policy;
pub mod server;
pub mod text;
pub mod verify;
