//! Between the proto data model and rusqlite: values, parameter binding, result codes, and
//! the little the server reads of a SQL text itself (`text`).

pub mod bind;
pub mod codes;
pub mod text;
pub mod value;
