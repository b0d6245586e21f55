//! Between the proto data model and rusqlite: values, parameter binding, result codes.

pub mod bind;
pub mod codes;
pub mod value;
