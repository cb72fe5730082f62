//! `sqlx::migrate!` embeds the migrations present when the crate is compiled; a migration file
//! added later is seen only if Cargo rebuilds the crate, which this line asks for.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
