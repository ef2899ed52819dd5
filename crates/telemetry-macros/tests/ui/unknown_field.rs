use telemetry_macros::traced;

#[traced(fields(user, missing, also_missing))]
fn greet(user: &str) -> String {
    format!("hello {user}")
}

fn main() {
    greet("you");
}
