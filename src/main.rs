//! The `mimamori` command. All the work is in the library; this only maps the outcome to an
//! exit status: 0 done, 1 failed, 2 configuration or usage error.

/// jemalloc instead of the C library's allocator. The platform allocates and frees a few small
/// buffers for every message (its JSON, the signal, the receipt), on many threads, and glibc's
/// malloc spent a quarter of the gateway's time at saturation in its own bookkeeping: with
/// jemalloc a 100,000-event burst is stored about a quarter faster and holds less memory at its
/// peak (issue 15, docs/BENCHMARKS.md, "Ingestion", fourth round). Its options can be changed at start
/// through `_RJEM_MALLOC_CONF` (docs/DEPLOYMENT.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    mimamori::main()
}
