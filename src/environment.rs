//! `environment.json`: OS, CPU, memory and tool version. Never environment variable values.

use serde::Serialize;

/// The machine the bundle was made on.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// Tool name and version.
    pub tool: String,
    /// OS name and version.
    pub os: Option<String>,
    /// Kernel version.
    pub kernel: Option<String>,
    /// CPU architecture.
    pub arch: String,
    /// Number of logical CPUs.
    pub cpus: usize,
    /// Total memory in bytes.
    pub total_memory_bytes: u64,
    /// Available memory in bytes.
    pub available_memory_bytes: u64,
}

impl Environment {
    /// Reads the environment of this machine.
    pub fn collect() -> Environment {
        let mut sys = sysinfo::System::new();
        sys.refresh_memory();
        Environment {
            tool: crate::TOOL.to_string(),
            os: sysinfo::System::long_os_version(),
            kernel: sysinfo::System::kernel_version(),
            arch: std::env::consts::ARCH.to_string(),
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            total_memory_bytes: sys.total_memory(),
            available_memory_bytes: sys.available_memory(),
        }
    }
}
