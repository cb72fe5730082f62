//! The `mimamori` command. All the work is in the library; this only maps the outcome to an
//! exit status: 0 done, 1 failed, 2 configuration or usage error.

fn main() -> std::process::ExitCode {
    mimamori::main()
}
