//! The `consumer` Lambda. Its behaviour belongs to issue #4; until then the
//! binary refuses to start so that nothing downstream mistakes it for success.

fn main() -> std::process::ExitCode {
    eprintln!("consumer: not implemented yet (issue #4); refusing to start");
    std::process::ExitCode::FAILURE
}
