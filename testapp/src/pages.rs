//! Looking at pages as a user would, in the browser tests: each page at a desk's width (1280 px)
//! and a phone's (390 px), a screenshot of each into [`screenshot_dir`] (`target/screenshots/`,
//! not committed), and axe-core's accessibility check with no serious or critical violation.
//!
//! axe-core comes from npm (`npm ci --prefix web/tests/axe`, which `.ci/run` does). Where it is
//! not installed the check is skipped with a note — unless `MIMAMORI_TEST_REQUIRE_BROWSER=1`
//! (CI), where that fails the test.

use mimamori_testkit::browser::Browser;
use std::path::PathBuf;

/// The widths every page is looked at: a desk and a phone.
pub const WIDTHS: [u32; 2] = [1280, 390];

/// Where the screenshots go: `target/screenshots/` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("target")
        .join("screenshots")
}

/// axe-core's script, if installed.
fn axe_source() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("web/tests/axe/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(_) if mimamori_testkit::harness::Need::Browser.required() => panic!(
            "{} is missing: npm ci --prefix web/tests/axe",
            path.display()
        ),
        Err(_) => {
            eprintln!(
                "note: axe-core is not installed ({}), the accessibility check is skipped: \
                 npm ci --prefix web/tests/axe",
                path.display()
            );
            None
        }
    }
}

/// The page open in `browser`, as `name`, at each of [`WIDTHS`]: a screenshot of each into
/// [`screenshot_dir`] (`name-1280.png`, `name-390.png`), and axe-core's check at each — it fails
/// the test on any serious or critical violation. Leaves the window at the phone's width.
pub async fn look_at(browser: &Browser, name: &str) {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let axe = axe_source();
    for width in WIDTHS {
        browser.set_size(width, 900).await;
        if let Some(axe) = &axe {
            let loaded = browser
                .execute(&format!("{axe}\n;return typeof axe === 'object';"), vec![])
                .await;
            assert_eq!(loaded, true, "axe-core loads into {name}");
            let found = browser
                .execute_async(
                    "const done = arguments[arguments.length - 1];
                     axe.run(document, { resultTypes: ['violations'] })
                       .then(r => done(r.violations
                         .filter(v => v.impact === 'serious' || v.impact === 'critical')
                         .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' — '
                           + v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(', '))))
                       .catch(e => done(['axe failed: ' + e]));",
                    vec![],
                )
                .await;
            let found: Vec<String> = serde_json::from_value(found).unwrap();
            assert!(
                found.is_empty(),
                "{name} at {width} px: serious or critical accessibility violations:\n{}",
                found.join("\n")
            );
        }
        let png = browser.screenshot().await;
        std::fs::write(dir.join(format!("{name}-{width}.png")), png).unwrap();
    }
    browser.set_size(390, 900).await;
}

/// Follows the header's 日本語 / English switch (`/lang`, back to the same page); the language
/// of the page it led to.
pub async fn switch_language(browser: &Browser) -> String {
    browser
        .find("header .me a.lang")
        .await
        .click_to_load()
        .await;
    browser.lang().await
}
