//! One module per subcommand; each turns its arguments into calls on the library and an exit code.

pub mod certs;
pub mod check;
pub mod load;
pub mod review;
pub mod serve;
pub mod verify;
pub mod view;
