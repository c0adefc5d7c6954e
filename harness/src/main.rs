//! The `xpucert` command. All logic is in the library; see `cli`.
fn main() -> std::process::ExitCode {
    xpucert::cli::main()
}
