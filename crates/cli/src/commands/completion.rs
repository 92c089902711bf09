//! `berth completion bash|zsh|fish` and `berth man DIR`: shell completion scripts and man pages
//! generated from the same clap definitions as the parser (`clap_complete`, `clap_mangen`), so
//! they never drift from the flags `berth` accepts. Neither needs the daemon.

use std::io;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::{CmdError, CmdResult};

/// The shells a completion script is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// bash (source it, or put it in /etc/bash_completion.d/berth)
    Bash,
    /// zsh (put it as _berth in a directory of $fpath)
    Zsh,
    /// fish (put it in ~/.config/fish/completions/berth.fish)
    Fish,
}

/// `berth completion`.
#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `berth man`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Directory to write the pages to (berth.1, berth-run.1, berth-container-ls.1, …)
    pub dir: PathBuf,
}

/// The completion script for `shell` of the command tree `cmd` (named `berth`).
pub fn script(cmd: clap::Command, shell: Shell) -> String {
    let mut cmd = cmd;
    let mut out = Vec::new();
    let g = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(g, &mut cmd, "berth", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes one man page per command and subcommand into `dir` (made if missing); returns the
/// pages written, sorted.
pub fn man_pages(cmd: clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(cmd, dir)?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "1")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("berth"))
        })
        .collect();
    pages.sort();
    Ok(pages)
}

/// `berth completion SHELL`.
pub fn completion(cmd: clap::Command, a: CompletionArgs) -> CmdResult {
    super::out(&script(cmd, a.shell));
    Ok(0)
}

/// `berth man DIR`.
pub fn man(cmd: clap::Command, a: ManArgs) -> CmdResult {
    let pages = man_pages(cmd, &a.dir).map_err(|e| CmdError::Status {
        message: format!("write man pages to {}: {e}", a.dir.display()),
        code: 1,
    })?;
    super::out(&format!(
        "wrote {} man pages to {}\n",
        pages.len(),
        a.dir.display()
    ));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser, Subcommand};

    #[derive(Debug, Parser)]
    #[command(name = "berth")]
    struct Cli {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[derive(Debug, Subcommand)]
    enum Cmd {
        /// List images
        Images,
        /// Run
        Run {
            /// Publish a port
            #[arg(short = 'p', long)]
            publish: Vec<String>,
        },
    }

    #[test]
    fn scripts_and_pages_follow_the_definitions() {
        let bash = script(Cli::command(), Shell::Bash);
        assert!(
            bash.contains("complete -F _berth") && bash.contains("images"),
            "{bash}"
        );
        let fish = script(Cli::command(), Shell::Fish);
        assert!(
            fish.contains("complete -c berth") && fish.contains("publish"),
            "{fish}"
        );
        let zsh = script(Cli::command(), Shell::Zsh);
        assert!(zsh.starts_with("#compdef berth"), "{zsh}");
        let dir = std::env::temp_dir().join(format!("berth-man-{}", std::process::id()));
        let pages = man_pages(Cli::command(), &dir).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["berth-images.1", "berth-run.1", "berth.1"]);
        let run = std::fs::read_to_string(dir.join("berth-run.1")).unwrap();
        assert!(run.contains("publish"), "{run}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
