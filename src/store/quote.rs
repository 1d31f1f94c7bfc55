//! The one place that turns a name or a value into SQL text, for the few
//! spots where DuckDB cannot bind a parameter: identifiers (a column a model
//! reads), paths in `read_parquet`/`copy ... to`, settings, and the literals
//! of rendered SQL that another engine runs (docs/design.md §5). Everywhere
//! else values are bound with `?`.

use crate::sql::Dialect;

/// An identifier, double-quoted (DuckDB; Spark SQL reads backticks, which
/// the templates' `ident` macro writes).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal for `dialect`: DuckDB doubles a quote; Spark SQL takes
/// backslash escapes.
pub fn string_in(dialect: Dialect, s: &str) -> String {
    match dialect {
        Dialect::Duckdb => format!("'{}'", s.replace('\'', "''")),
        Dialect::Spark => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
    }
}

/// A DuckDB string literal.
pub fn string(s: &str) -> String {
    string_in(Dialect::Duckdb, s)
}

/// A double as a literal both engines parse back to the same value (the
/// shortest representation that round-trips; infinities by name).
pub fn double(x: f64) -> String {
    if x == f64::INFINITY {
        "'inf'::double".to_string()
    } else if x == f64::NEG_INFINITY {
        "'-inf'::double".to_string()
    } else {
        format!("'{x:?}'::double")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled_or_escaped() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(string("it's"), "'it''s'");
        assert_eq!(string_in(Dialect::Spark, "it's \\"), "'it\\'s \\\\'");
    }

    #[test]
    fn doubles_round_trip() {
        for x in [0.1, 1.0 / 3.0, 1e-7, -2.5e300, 42.0] {
            let l = double(x);
            let inner = l.trim_start_matches('\'').split('\'').next().unwrap();
            assert_eq!(inner.parse::<f64>().unwrap(), x);
        }
        assert_eq!(double(f64::INFINITY), "'inf'::double");
        assert_eq!(double(f64::NEG_INFINITY), "'-inf'::double");
    }
}
