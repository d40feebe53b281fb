//! The `symbl-webhook` Lambda. Its behaviour belongs to issue #5; until then the
//! binary refuses to start so that nothing downstream mistakes it for success.

fn main() -> std::process::ExitCode {
    eprintln!("symbl-webhook: not implemented yet (issue #5); refusing to start");
    std::process::ExitCode::FAILURE
}
