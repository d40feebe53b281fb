//! The `producer` Lambda. Its behaviour belongs to issue #3; until then the
//! binary refuses to start so that nothing downstream mistakes it for success.

fn main() -> std::process::ExitCode {
    eprintln!("producer: not implemented yet (issue #3); refusing to start");
    std::process::ExitCode::FAILURE
}
