//! `strata-server [config-file] [--name value ...]`

use std::process::ExitCode;

use server::config::Config;

/// Exit code of a shutdown that cut a stage short, was forced by a second signal, or could
/// not flush (0: clean; 1: start-up failed; 2: bad configuration).
const EXIT_FORCED: u8 = 4;

fn init_logging(cfg: &Config) -> Result<(), String> {
    let level = match cfg.get("loglevel") {
        "debug" => "debug",
        "verbose" | "notice" => "info",
        "warning" => "warn",
        _ => "off",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let logfile = cfg.get("logfile");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if logfile.is_empty() {
        // Colours only on a terminal: a redirected log stays plain text.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        builder.with_ansi(ansi).with_writer(std::io::stderr).init();
    } else {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile)
            .map_err(|e| format!("cannot open logfile {logfile}: {e}"))?;
        builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .init();
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!(
            "strata-server {} (redis {})",
            server::STRATA_VERSION,
            server::REDIS_VERSION
        );
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: strata-server [config-file] [--name value ...]\n\nEvery parameter of the config file can be given as --name value; see docs/operations.md.");
        return ExitCode::SUCCESS;
    }
    let cfg = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strata-server: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = init_logging(&cfg) {
        eprintln!("strata-server: {e}");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strata-server: cannot start runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(async_main(cfg));
    // A worker thread still stuck at this point (its shutdown was logged as cut) must not keep
    // the process alive: blocking tasks get a short grace, then the process ends.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    // Everything is on disk (the shutdown's last stage flushed and synced it). End without
    // running the C++ static destructors of the engine: a thread of ours or of RocksDB still
    // winding down could otherwise lock one of its destroyed mutexes and abort the process
    // (seen once as "pthread lock: Invalid argument" after a clean shutdown, exit code 134).
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    #[allow(unsafe_code)]
    // SAFETY: `_exit` only ends the process; no Rust state is used after it. Skipping the
    // destructors is the point (see above), and the data is durable already.
    unsafe {
        libc::_exit(code as i32)
    }
}

async fn async_main(cfg: Config) -> u8 {
    let pidfile = cfg.get("pidfile").to_string();
    let dir = cfg.get("dir").to_string();
    let handle = match server::start(cfg).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("start-up failed: {e}");
            eprintln!("strata-server: {e}");
            return 1;
        }
    };
    if !pidfile.is_empty() {
        if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
            tracing::warn!(error = %e, pidfile = %pidfile, "cannot write pid file");
        }
    }
    tracing::info!(
        version = server::STRATA_VERSION,
        addr = %handle.addr,
        dir = %dir,
        pid = std::process::id(),
        "Strata ready to accept connections"
    );
    let shared = handle.shared.clone();
    // Signal handlers only notify the shutdown state machine: the first SIGTERM/SIGINT starts
    // it, a second one forces it (every remaining wait is cut).
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot install SIGTERM handler");
                    return;
                }
            };
        let mut int = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot install SIGINT handler");
                return;
            }
        };
        loop {
            let which = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            if shared.shutdown.is_cancelled() || shared.shutdown_wait.waiting() {
                tracing::warn!("received {which} again: forcing the shutdown");
                shared.shutdown.cancel();
                shared.shutdown_force.cancel();
            } else {
                tracing::info!("received {which}, shutting down");
                server::lifecycle::request_shutdown(&shared, false);
            }
        }
    });
    let clean = handle.wait().await;
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    if clean {
        tracing::info!("Strata stopped");
        0
    } else {
        tracing::warn!("Strata stopped after a forced shutdown (exit code {EXIT_FORCED})");
        EXIT_FORCED
    }
}
