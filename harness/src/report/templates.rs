//! The HTML pages' templates (`harness/templates/report/`), compiled into the
//! binary and rendered with minijinja.
//!
//! Escaping is the environment's job, not the caller's: every template,
//! whatever its file name, is rendered with HTML auto-escaping, so each
//! `{{ value }}` is escaped in text and attribute positions alike (`&`, `<`,
//! `>`, `"`, `'`, `/`). Values reach the templates as plain serialized
//! strings and numbers, never as pre-rendered markup, and no template marks
//! anything `|safe` (a test below checks that), so a vendor string (backend
//! name, manifest, error message) cannot add markup to a page.

use std::sync::OnceLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;

/// Every template, by the name the others include it under.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "report.html.j2",
        include_str!("../../templates/report/report.html.j2"),
    ),
    (
        "matrix.html.j2",
        include_str!("../../templates/report/matrix.html.j2"),
    ),
    (
        "matrix_table.html.j2",
        include_str!("../../templates/report/matrix_table.html.j2"),
    ),
    (
        "headroom.html.j2",
        include_str!("../../templates/report/headroom.html.j2"),
    ),
    (
        "throughput.html.j2",
        include_str!("../../templates/report/throughput.html.j2"),
    ),
    (
        "style.css",
        include_str!("../../templates/report/style.css"),
    ),
    (
        "filters.js",
        include_str!("../../templates/report/filters.js"),
    ),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // HTML escaping for every template: the default would decide by
        // file extension and leave `.css`/`.js` (and any future `.svg`)
        // unescaped.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        // A misspelt field is an error, not an empty string on the page.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Block tags on their own lines leave no blank lines behind.
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name} does not compile: {e:#}"));
        }
        env
    })
}

/// Renders the template `name` with `context`, ending the page with a
/// newline.
///
/// # Panics
/// If the template fails to render: the templates are part of the binary
/// and the contexts are typed, so that is a defect in xpucert, not a
/// condition of the input.
pub(super) fn render(name: &str, context: &impl Serialize) -> String {
    let env = environment();
    let template = env
        .get_template(name)
        .unwrap_or_else(|e| panic!("no template {name}: {e:#}"));
    let mut page = template
        .render(Value::from(Serde(context)))
        .unwrap_or_else(|e| panic!("template {name} failed to render: {e:#}"));
    page.push('\n');
    // Auto-escaping covers markup, not control characters: a page must
    // not carry a vendor's raw ESC or bidi override either.
    crate::text::escape(&page).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_escapes_and_none_opts_out() {
        for (name, source) in TEMPLATES {
            let squeezed: String = source.split_whitespace().collect();
            assert!(
                !squeezed.contains("|safe") && !squeezed.contains("autoescape"),
                "{name}: values must not bypass escaping"
            );
        }
        // Escaping does not depend on the template's name.
        for name in ["x.html.j2", "x.css", "x.js", "x.svg"] {
            let out = environment()
                .render_named_str(
                    name,
                    "<t a=\"{{ v }}\">{{ v }}</t>",
                    minijinja::context! { v => "\"><script>'" },
                )
                .unwrap();
            assert_eq!(
                out, "<t a=\"&quot;&gt;&lt;script&gt;&#x27;\">&quot;&gt;&lt;script&gt;&#x27;</t>",
                "{name}"
            );
        }
    }
}
