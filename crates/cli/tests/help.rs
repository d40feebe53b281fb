//! README.md shows `zoom-symbl --help` and each command's `--help` as they are; this test
//! keeps the two the same (it prints the block to paste when they differ).

use std::process::Command;

const README: &str = include_str!("../../../README.md");

#[test]
fn the_readme_shows_the_help_of_every_command_as_it_is() {
    for command in ["", "status", "list", "replay", "resend", "backfill", "redrive"] {
        let mut args: Vec<&str> = command.split_whitespace().collect();
        args.push("--help");
        let out = Command::new(env!("CARGO_BIN_EXE_zoom-symbl"))
            .args(&args)
            .output()
            .expect("running zoom-symbl");
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8(out.stdout).expect("UTF-8 help");
        let block = format!("```text\n$ zoom-symbl {}\n{}```\n", args.join(" "), help);
        assert!(
            README.contains(&block),
            "README.md does not show `zoom-symbl {}` as it is; paste:\n{block}",
            args.join(" ")
        );
    }
}
