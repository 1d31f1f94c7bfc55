//! Lets binaries and tests find the prebuilt libduckdb.so without
//! LD_LIBRARY_PATH: rpaths to `$ORIGIN` and `$ORIGIN/../lib/churn` (the
//! library beside the binary, or where `make install` and `make dist` put
//! it), then to the fetched library (a build run in place).

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_BUNDLED").is_some() {
        return;
    }
    let Some(dir) = std::env::var_os("DUCKDB_LIB_DIR") else {
        return;
    };
    let dir = Path::new(&dir);
    println!("cargo:rerun-if-changed={}", dir.join("libduckdb.so").display());
    if !dir.join("libduckdb.so").exists() {
        panic!(
            "libduckdb.so not found in {}: run `bash scripts/fetch-duckdb.sh` once \
             (or build with `--features bundled` to compile DuckDB from source)",
            dir.display()
        );
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN");
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/../lib/churn");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
}
