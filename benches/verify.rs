//! `verify` on hostile zips, run as the real binary and measured from outside: peak RSS (`ru_maxrss` from
//! `wait4`) and wall time of each run, on a 1 GiB manifest bomb (honest, and claiming 100 bytes), a 1 GiB
//! listed member, a zip of 100,000 members (refused by the member limit) and a valid zip at the limit
//! (10,000 members, every one hashed and searched for a key).
//!
//! `cargo bench --bench verify`. Targets: peak RSS under 64 MiB on the bombs; the 100,000-member zip and the
//! zip at the limit under 2 s each.
//!
//! A child's `ru_maxrss` counts the memory of the process it was spawned from, up to its `exec`; building the
//! zips takes this process to hundreds of MiB. So each run goes through a fresh copy of this executable
//! (`--measure`), which spawns the binary, waits for it and prints its figures.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use cohere_bundle_core::bundle::{MAX_JSON_MEMBER_BYTES, MAX_MEMBERS};
use testkit::hostile_zips::{self, Body, Manifest};

const KEY: &str = "Zx8Qm2Lp4Rt6Vw8Yb0Nc2Df4Gh6Jk8Ls0Pq2Ws4E";

/// `--measure PROGRAM ARGS...`: runs it, then prints `exit <code> maxrss_kib <n> secs <s>` and its stderr.
#[allow(clippy::zombie_processes)] // reaped by `wait4`, which also gives its resource use
fn measure(args: &[String]) {
    let start = Instant::now();
    let mut child = Command::new(&args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain data that `wait4` fills in; `pid` is this process's own unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let secs = start.elapsed().as_secs_f64();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    println!("exit {code} maxrss_kib {} secs {secs:.3}", usage.ru_maxrss);
    print!("{stderr}");
}

fn verify(what: &str, dir: &Path, zip: &str) {
    let out = Command::new(std::env::current_exe().expect("this bench"))
        .arg("--measure")
        .arg(env!("CARGO_BIN_EXE_cohere-bundle"))
        .args(["verify", zip, "--secret", KEY])
        .current_dir(dir)
        .env_remove("CO_API_KEY")
        .env_remove("COHERE_API_KEY")
        .output()
        .expect("measure");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let size = std::fs::metadata(dir.join(zip))
        .map(|m| m.len())
        .unwrap_or(0);
    match head.as_slice() {
        ["exit", code, "maxrss_kib", kib, "secs", secs] => println!(
            "{what}: zip {:.2} MiB -> exit {code}, peak RSS {:.1} MiB, {secs} s",
            size as f64 / (1 << 20) as f64,
            kib.parse::<f64>().unwrap_or(f64::NAN) / 1024.0,
        ),
        _ => println!("{what}: measuring failed: {text}"),
    }
    for l in lines {
        println!("    {l}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--measure") {
        return measure(&args[1..]);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    println!(
        "verify caps: {MAX_MEMBERS} members, JSON members {} MiB",
        MAX_JSON_MEMBER_BYTES >> 20
    );
    eprintln!("building the zips...");
    hostile_zips::write_zip(
        &d.join("bomb.zip"),
        &hostile_zips::minimal(),
        Manifest::Raw(Body::Spaces(1 << 30)),
    );
    std::fs::copy(d.join("bomb.zip"), d.join("liar.zip")).expect("copy");
    hostile_zips::set_declared_size(&d.join("liar.zip"), "manifest.json", 100);
    // 1 GiB as a listed member with its true hash: verify has to inflate all of it, hashing and searching.
    let mut members = hostile_zips::minimal();
    members.push(("logs/app.log", Body::Spaces(1 << 30)));
    hostile_zips::write_zip(&d.join("gib_log.zip"), &members, Manifest::Listing);
    hostile_zips::many_members(&d.join("many.zip"), 100_000);
    hostile_zips::many_members(&d.join("limit.zip"), MAX_MEMBERS);

    verify("1 GiB manifest bomb (refused)", d, "bomb.zip");
    verify(
        "1 GiB manifest bomb claiming 100 bytes (refused)",
        d,
        "liar.zip",
    );
    verify(
        "1 GiB listed member (hashed and searched)",
        d,
        "gib_log.zip",
    );
    verify("100,000 members (refused)", d, "many.zip");
    verify(&format!("{MAX_MEMBERS} members (valid)"), d, "limit.zip");
}
