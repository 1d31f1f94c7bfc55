/// Rust's allocations go through mimalloc: the API makes a few small ones
/// per request, and glibc's malloc and free were a fifth of a GET's time
/// under load (`bench/api.sh`). DuckDB allocates its own memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(churn::main());
}
