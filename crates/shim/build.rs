//! berth-shim is linked as a position-dependent executable: a PIE's relocated read-only data
//! (vtables, string tables) is dirtied in every process at load, about 260 KiB per shim here, and
//! there is one shim per container. Non-PIE needs no load-time relocations, so those pages stay
//! shared page cache.
fn main() {
    println!("cargo:rustc-link-arg-bin=berth-shim=-no-pie");
}
