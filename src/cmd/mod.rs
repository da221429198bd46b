//! One module per subcommand; each turns its arguments into calls on the library and an exit code.

pub mod check;
pub mod load;
