//! `log.level`: a `tracing` filter whose every directive names a level. The filter's own syntax
//! reads a word that is not a level as the name of a module, so `warning` (or an empty value)
//! would be accepted and show only that module's events, which are none: the service would run
//! without a line, its errors included.

/// The levels a directive may name (case does not matter).
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Whether `level` is a filter of `level` and `target=level` directives, comma-separated (a
/// directive with a span filter, `target[span{field=value}]=level`, is left to the filter's
/// own parser); why not when it is not.
pub(super) fn check(filter: &str) -> Result<(), String> {
    // A level by name, or by number as `tracing` also reads it (0 off to 5 trace).
    let is_level = |word: &str| {
        let word = word.trim();
        LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word))
            || matches!(word, "0" | "1" | "2" | "3" | "4" | "5")
    };
    let directives: Vec<&str> = (filter.split(','))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if directives.is_empty() {
        return Err("is empty: name a level (trace, debug, info, warn, error, off)".into());
    }
    for directive in directives {
        if directive.contains('[') {
            continue;
        }
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        if !is_level(level) {
            return Err(format!(
                "{directive:?} names no level (trace, debug, info, warn, error, off; or \
                 target=level): it would show only the events of a module of that name"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn levels_and_target_levels_pass() {
        for ok in [
            "info",
            "WARN",
            "info,rskafka=warn",
            "usercenter=debug, rskafka=off",
            "info,usercenter::consumer[partition{id=1}]=trace",
            "usercenter=4,3",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn words_that_name_no_level_fail() {
        for bad in [
            "warning",
            "",
            " , ",
            "info,rskafka=warning",
            "notice",
            "usercenter",
            "x=",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }
}
