//! The grader's first stage: what of a submitted chapter file is compiled.
//!
//! Only the learner's exercise functions (the functions whose stub body is a `todo!`
//! naming an exercise) and the helpers the learner added are taken; everything else (given
//! functions, types, trait impls) is the course's own stub, so rewriting given code changes
//! nothing (it is reported). The taken code is checked on its tokens, where a macro cannot
//! hide anything: identifiers a macro could turn into a compile-time file read are refused,
//! added names must not shadow a name the course's code uses, and each exercise's body (with
//! the helpers it reaches) must not call what the exercise teaches to write by hand
//! (`forbid` in `course.toml`).

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::ToTokens;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use syn::spanned::Spanned;
use syn::{ImplItem, Item, UseTree, Visibility};

/// What a chapter's exercises may not call, and the names the course's tests use.
pub struct Rules<'a> {
    /// The chapter id: `todo!` messages start with it.
    pub chapter: &'a str,
    /// Per exercise id: identifiers its code must not use (`course.toml`'s `forbid`).
    pub forbid: BTreeMap<&'a str, &'a [String]>,
    /// Every identifier of the course's test files: a learner's public item or method must not
    /// take one (the tests would call it instead of what they mean).
    pub test_names: &'a BTreeSet<String>,
}

/// A taken chapter file.
#[derive(Debug)]
pub struct Taken {
    /// What the grader compiles: the stub with the learner's exercise functions and helpers.
    pub text: String,
    /// Given code the learner changed: ignored, one line each.
    pub ignored: Vec<String>,
    /// Per exercise id: why it scores 0 (a forbidden call).
    pub forbidden: BTreeMap<String, String>,
}

/// Identifiers refused anywhere in the learner's code: macros that read files at compile
/// time by their own name or an alias (`use std::include_str as grab;`), the attribute that
/// embeds a file into the binary, and code outside Rust's checks. A macro can only emit
/// identifiers that appear in the file, so none of these can be produced by one.
const REFUSED: [&str; 10] = [
    "include_str",
    "include_bytes",
    "option_env",
    "debugger_visualizer",
    "asm",
    "global_asm",
    "naked_asm",
    "export_name",
    "no_mangle",
    "link_section",
];

/// Refused when invoked as a macro (`env!`, `include!`) or imported under another name; as
/// modules or functions at run time (`std::env::var`) they are fine.
const REFUSED_MACROS: [&str; 2] = ["include", "env"];

/// A function of the stub that is an exercise.
struct Slot {
    exercise: String,
    /// Where the whole item (attributes included) is in the stub.
    range: Range<usize>,
}

/// A piece of learner code that is compiled: its tokens and the names it defines.
struct Piece {
    names: Vec<String>,
    tokens: TokenStream,
    /// The exercise it is, if any.
    exercise: Option<String>,
}

fn byte_range(span: Span) -> Range<usize> {
    span.byte_range()
}

fn canon(t: &impl ToTokens) -> String {
    t.to_token_stream().to_string()
}

fn line(span: Span) -> usize {
    span.start().line
}

fn impl_key(imp: &syn::ItemImpl) -> String {
    let tr = imp.trait_.as_ref().map(|(_, p, _)| canon(p)).unwrap_or_default();
    format!("impl {tr} for {}", canon(&imp.self_ty))
}

/// The exercise a function body is the stub of: its `todo!("<chapter> <id>: ...")`.
fn exercise_of(block: &syn::Block, chapter: &str) -> Option<String> {
    fn find(ts: TokenStream, chapter: &str) -> Option<String> {
        let tokens: Vec<TokenTree> = ts.into_iter().collect();
        for (i, t) in tokens.iter().enumerate() {
            match t {
                TokenTree::Ident(id) if id == "todo" => {
                    if let (Some(TokenTree::Punct(p)), Some(TokenTree::Group(g))) =
                        (tokens.get(i + 1), tokens.get(i + 2))
                    {
                        if p.as_char() == '!' {
                            let first = g.stream().into_iter().next();
                            if let Some(TokenTree::Literal(l)) = first {
                                if let Ok(s) = syn::parse2::<syn::LitStr>(TokenTree::Literal(l).into()) {
                                    let msg = s.value();
                                    if let Some(rest) = msg.strip_prefix(&format!("{chapter} ")) {
                                        return rest.split(':').next().map(str::to_string);
                                    }
                                }
                            }
                        }
                    }
                }
                TokenTree::Group(g) => {
                    if let Some(x) = find(g.stream(), chapter) {
                        return Some(x);
                    }
                }
                _ => {}
            }
        }
        None
    }
    find(block.to_token_stream(), chapter)
}

/// Every `use` leaf as (path text, the name it binds; `None` for a glob).
fn use_leaves(tree: &UseTree, prefix: &str, out: &mut Vec<(String, Option<syn::Ident>)>) {
    let join = |s: &str| if prefix.is_empty() { s.to_string() } else { format!("{prefix}::{s}") };
    match tree {
        UseTree::Path(p) => use_leaves(&p.tree, &join(&p.ident.to_string()), out),
        UseTree::Name(n) if n.ident == "self" => out.push((
            prefix.to_string(),
            prefix.rsplit("::").next().map(|s| syn::Ident::new(s, n.ident.span())),
        )),
        UseTree::Name(n) => out.push((join(&n.ident.to_string()), Some(n.ident.clone()))),
        UseTree::Rename(r) => {
            out.push((format!("{} as {}", join(&r.ident.to_string()), r.rename), Some(r.rename.clone())))
        }
        UseTree::Glob(_) => out.push((join("*"), None)),
        UseTree::Group(g) => g.items.iter().for_each(|t| use_leaves(t, prefix, out)),
    }
}

/// The names an item defines in its module.
fn defined_names(item: &Item) -> Vec<syn::Ident> {
    match item {
        Item::Const(i) => vec![i.ident.clone()],
        Item::Enum(i) => vec![i.ident.clone()],
        Item::ExternCrate(i) => vec![i.rename.as_ref().map_or(i.ident.clone(), |r| r.1.clone())],
        Item::Fn(i) => vec![i.sig.ident.clone()],
        Item::Macro(i) => i.ident.iter().cloned().collect(),
        Item::Mod(i) => vec![i.ident.clone()],
        Item::Static(i) => vec![i.ident.clone()],
        Item::Struct(i) => vec![i.ident.clone()],
        Item::Trait(i) => vec![i.ident.clone()],
        Item::TraitAlias(i) => vec![i.ident.clone()],
        Item::Type(i) => vec![i.ident.clone()],
        Item::Union(i) => vec![i.ident.clone()],
        Item::Use(u) => {
            let mut leaves = Vec::new();
            use_leaves(&u.tree, "", &mut leaves);
            leaves.into_iter().filter_map(|l| l.1).collect()
        }
        _ => Vec::new(),
    }
}

fn is_public(item: &Item) -> bool {
    let vis = match item {
        Item::Const(i) => &i.vis,
        Item::Enum(i) => &i.vis,
        Item::Fn(i) => &i.vis,
        Item::Mod(i) => &i.vis,
        Item::Static(i) => &i.vis,
        Item::Struct(i) => &i.vis,
        Item::Trait(i) => &i.vis,
        Item::Type(i) => &i.vis,
        Item::Union(i) => &i.vis,
        Item::Use(i) => &i.vis,
        Item::Macro(_) => return true, // `#[macro_export]` or not: treat as reachable
        _ => return false,
    };
    !matches!(vis, Visibility::Inherited)
}

fn impl_item_name(item: &ImplItem) -> Option<String> {
    match item {
        ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
        ImplItem::Const(c) => Some(c.ident.to_string()),
        ImplItem::Type(t) => Some(t.ident.to_string()),
        _ => None,
    }
}

/// Every identifier in `ts`, with whether it follows `.` or `::` (a method or a path
/// segment, not a bare name) and its line.
fn idents(ts: TokenStream, out: &mut Vec<(String, bool, usize)>) {
    let mut prev: Vec<char> = Vec::new();
    for t in ts {
        match &t {
            TokenTree::Ident(id) => {
                let name = id.to_string();
                let name = name.strip_prefix("r#").unwrap_or(&name).to_string();
                let qualified = prev.last() == Some(&'.') || prev.ends_with(&[':', ':']);
                out.push((name, qualified, line(id.span())));
                prev.clear();
            }
            TokenTree::Punct(p) => prev.push(p.as_char()),
            TokenTree::Group(g) => {
                idents(g.stream(), out);
                prev.clear();
            }
            TokenTree::Literal(_) => prev.clear(),
        }
    }
}

/// The refused identifiers and out-of-line modules in learner code: `#[path]` only acts on
/// a module read from a file (`mod name;`), which is refused however it is written.
fn refused(ts: TokenStream, in_use: bool) -> Option<String> {
    let tokens: Vec<TokenTree> = ts.into_iter().collect();
    let is_punct =
        |t: Option<&TokenTree>, c: char| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == c);
    let not_allowed = |name: &str, span: Span| {
        Some(format!(
            "line {}: `{name}` is not allowed in graded code (it could read files or the environment at compile time, or leave Rust's checks)",
            line(span)
        ))
    };
    // Inside a `use` statement (`use std::env;`, also within its braces).
    let mut use_stmt = in_use;
    for (i, t) in tokens.iter().enumerate() {
        match t {
            TokenTree::Ident(id) => {
                let name = id.to_string();
                let name = name.strip_prefix("r#").unwrap_or(&name);
                if name == "use" {
                    use_stmt = true;
                }
                if REFUSED.contains(&name) {
                    return not_allowed(name, id.span());
                }
                let bang = is_punct(tokens.get(i + 1), '!');
                if REFUSED_MACROS.contains(&name) && (bang || use_stmt) {
                    let shown = if bang { format!("{name}!") } else { format!("use ..{name}..") };
                    return not_allowed(&shown, id.span());
                }
                // `$how!(..)` in a macro: a macro named by its caller (`include_str`, ..).
                if bang && is_punct(i.checked_sub(1).and_then(|k| tokens.get(k)), '$') {
                    return Some(format!(
                        "line {}: a macro may not call a macro its caller names (`${name}!`): write the call out",
                        line(id.span())
                    ));
                }
                if name == "mod" {
                    let inline = matches!(tokens.get(i + 1), Some(TokenTree::Ident(_)))
                        && matches!(tokens.get(i + 2), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace);
                    if !inline {
                        return Some(format!(
                            "line {}: a module must be written inline (`mod name {{ .. }}`): a module file is not graded",
                            line(id.span())
                        ));
                    }
                }
            }
            TokenTree::Punct(p) if p.as_char() == ';' => use_stmt = in_use,
            TokenTree::Group(g) => {
                if let Some(why) = refused(g.stream(), use_stmt && g.delimiter() == Delimiter::Brace) {
                    return Some(why);
                }
            }
            _ => {}
        }
    }
    None
}

/// A learner's exercise function `whole` (its text `text`) for `slot`: the edit that puts it
/// into the stub, and its piece. The whole item is checked: its attributes and signature are
/// the learner's too.
fn taken_exercise(
    whole: &impl ToTokens,
    text: String,
    sig: &syn::Signature,
    block: &syn::Block,
    slot: &Slot,
) -> Result<((Range<usize>, String), Piece), String> {
    if let Some(why) = refused(whole.to_token_stream(), false) {
        return Err(why);
    }
    let piece = Piece {
        names: vec![sig.ident.to_string()],
        tokens: block.to_token_stream(),
        exercise: Some(slot.exercise.clone()),
    };
    Ok(((slot.range.clone(), text), piece))
}

/// Takes the graded code of `learner` into `stub` (see the module doc). `Err`: the chapter
/// is not graded, with the reason (its 0 points are explained by it).
pub fn take(stub: &str, learner: &str, rules: &Rules) -> Result<Taken, String> {
    let stub_file =
        syn::parse_file(stub).map_err(|e| format!("the stub does not parse (a course error): {e}"))?;
    // Without a byte-order mark, which the parser would drop (shifting every offset).
    let learner = learner.strip_prefix('\u{feff}').unwrap_or(learner);
    let sub = syn::parse_file(learner)
        .map_err(|e| format!("line {}: the file does not parse: {e}", e.span().start().line))?;

    // The stub: its exercise functions, given items, `use` leaves and names.
    let mut slots: BTreeMap<String, Slot> = BTreeMap::new();
    let mut impls: BTreeMap<String, (&syn::ItemImpl, usize)> = BTreeMap::new(); // key -> (impl, its `}`)
    let mut given: BTreeSet<String> = BTreeSet::new(); // canonical text of given items
    let mut given_names: BTreeSet<String> = BTreeSet::new();
    let mut stub_uses: BTreeSet<String> = BTreeSet::new();
    let mut insert_at = stub_file.items.first().map_or(stub.len(), |i| byte_range(i.span()).start);
    let mut leading = true;
    for item in &stub_file.items {
        let range = byte_range(item.span());
        match item {
            Item::Use(u) => {
                let mut leaves = Vec::new();
                use_leaves(&u.tree, "", &mut leaves);
                stub_uses.extend(leaves.into_iter().map(|l| l.0));
                if leading {
                    insert_at = range.end;
                }
            }
            _ => leading = false,
        }
        match item {
            Item::Fn(f) => match exercise_of(&f.block, rules.chapter) {
                Some(ex) => {
                    slots.insert(format!("fn {}", f.sig.ident), Slot { exercise: ex, range });
                }
                None => {
                    given.insert(canon(item));
                }
            },
            Item::Impl(imp) => {
                let key = impl_key(imp);
                for it in &imp.items {
                    if let ImplItem::Fn(f) = it {
                        if let Some(ex) = exercise_of(&f.block, rules.chapter) {
                            let range = byte_range(it.span());
                            slots.insert(format!("{key}::{}", f.sig.ident), Slot { exercise: ex, range });
                        }
                    }
                }
                impls.insert(key, (imp, byte_range(imp.brace_token.span.close()).start));
            }
            _ => {
                given.insert(canon(item));
            }
        }
        given_names.extend(defined_names(item).iter().map(|n| n.to_string()));
    }
    // The stub's identifiers: all of them (a method the learner adds to a given type could
    // take a method call's place) and the bare ones (an added item takes only those).
    let mut stub_idents = Vec::new();
    idents(stub_file.to_token_stream(), &mut stub_idents);
    let stub_bare: BTreeSet<&str> = stub_idents.iter().filter(|n| !n.1).map(|n| n.0.as_str()).collect();
    let stub_all: BTreeSet<&str> = stub_idents.iter().map(|n| n.0.as_str()).collect();

    // The learner's file, item by item.
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    let mut added_methods: BTreeMap<usize, String> = BTreeMap::new();
    let mut added = String::new();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut ignored = Vec::new();
    let text_of = |s: Span| learner[byte_range(s)].to_string();
    let check_name = |name: &syn::Ident, public: bool, what: &str| -> Result<(), String> {
        let n = name.to_string();
        let method = what == "method";
        let in_stub = if method { &stub_all } else { &stub_bare };
        if in_stub.contains(n.as_str()) || ((public || method) && rules.test_names.contains(&n)) {
            return Err(format!(
                "line {}: your {what} `{n}` takes a name the course's code uses (it could change what the given code or the tests call): rename it",
                line(name.span())
            ));
        }
        Ok(())
    };
    for item in &sub.items {
        match item {
            Item::Fn(f) if slots.contains_key(&format!("fn {}", f.sig.ident)) => {
                let slot = &slots[&format!("fn {}", f.sig.ident)];
                let (edit, piece) = taken_exercise(item, text_of(item.span()), &f.sig, &f.block, slot)?;
                edits.push(edit);
                pieces.push(piece);
            }
            Item::Impl(imp) if impls.contains_key(&impl_key(imp)) => {
                let key = impl_key(imp);
                let (stub_imp, close) = impls[&key];
                for it in &imp.items {
                    let name = impl_item_name(it);
                    let slot_key = name.as_ref().map(|n| format!("{key}::{n}"));
                    if let (Some(k), ImplItem::Fn(f)) = (&slot_key, it) {
                        if let Some(slot) = slots.get(k) {
                            let (edit, piece) =
                                taken_exercise(it, text_of(it.span()), &f.sig, &f.block, slot)?;
                            edits.push(edit);
                            pieces.push(piece);
                            continue;
                        }
                    }
                    let stub_it = stub_imp.items.iter().find(|s| name.is_some() && impl_item_name(s) == name);
                    match stub_it {
                        Some(s) if canon(s) == canon(it) => {}
                        Some(_) => ignored.push(format!(
                            "line {}: `{}` in `{key}` is given code: your change is ignored",
                            line(it.span()),
                            name.unwrap_or_default()
                        )),
                        None => {
                            if let ImplItem::Fn(f) = it {
                                check_name(&f.sig.ident, true, "method")?;
                            }
                            added_methods
                                .entry(close)
                                .or_default()
                                .push_str(&format!("\n    {}\n", text_of(it.span())));
                            pieces.push(Piece {
                                names: name.into_iter().collect(),
                                tokens: it.to_token_stream(),
                                exercise: None,
                            });
                        }
                    }
                }
            }
            Item::Use(u) => {
                let mut leaves = Vec::new();
                use_leaves(&u.tree, "", &mut leaves);
                let public = !matches!(u.vis, Visibility::Inherited);
                for (path, name) in leaves {
                    if stub_uses.contains(&path) {
                        continue;
                    }
                    let renamed = path.contains(" as ");
                    let local = ["crate", "self", "super"].iter().any(|p| path.starts_with(p));
                    if let Some(n) = &name {
                        if renamed || local || public {
                            check_name(n, public, "import")?;
                        }
                    }
                    let vis = canon(&u.vis);
                    let text = format!("{vis} use {path};\n");
                    pieces.push(Piece {
                        names: Vec::new(),
                        tokens: text.parse().map_err(|e| format!("line {}: {e:?}", line(u.span())))?,
                        exercise: None,
                    });
                    added.push_str(text.trim_start());
                }
            }
            _ => {
                if given.contains(&canon(item)) {
                    continue;
                }
                let names = defined_names(item);
                if let Some(n) = names.iter().find(|n| given_names.contains(&n.to_string())) {
                    ignored.push(format!(
                        "line {}: `{n}` is given code: your change is ignored",
                        line(item.span())
                    ));
                    continue;
                }
                if let Item::Macro(m) = item {
                    if m.ident.is_none() {
                        return Err(format!(
                            "line {}: a macro call outside a function is not graded (write the items it would make)",
                            line(item.span())
                        ));
                    }
                }
                let public = is_public(item);
                let mut names = names;
                if let Item::Impl(imp) = item {
                    if imp.trait_.is_none() {
                        for it in &imp.items {
                            if let ImplItem::Fn(f) = it {
                                check_name(&f.sig.ident, true, "method")?;
                                names.push(f.sig.ident.clone());
                            }
                        }
                    }
                }
                for n in &names {
                    check_name(n, public, "item")?;
                }
                added.push_str(&text_of(item.span()));
                added.push('\n');
                pieces.push(Piece {
                    names: names.iter().map(|n| n.to_string()).collect(),
                    tokens: item.to_token_stream(),
                    exercise: None,
                });
            }
        }
    }
    for p in &pieces {
        if let Some(why) = refused(p.tokens.clone(), false) {
            return Err(why);
        }
    }
    for attr in &sub.attrs {
        if let Some(why) = refused(attr.to_token_stream(), false) {
            return Err(why);
        }
    }

    // Forbidden calls: each exercise's code and everything of the learner's it reaches by name.
    let mut forbidden = BTreeMap::new();
    let exercises: BTreeSet<&str> = pieces.iter().filter_map(|p| p.exercise.as_deref()).collect();
    for ex in exercises {
        let Some(list) = rules.forbid.get(ex) else { continue };
        let mut reached: BTreeSet<usize> = BTreeSet::new();
        let mut todo: Vec<usize> = (0..pieces.len())
            .filter(|&i| pieces[i].exercise.as_deref() == Some(ex) || pieces[i].names.is_empty())
            .collect();
        let mut hits = Vec::new();
        while let Some(i) = todo.pop() {
            if !reached.insert(i) {
                continue;
            }
            let mut found = Vec::new();
            idents(pieces[i].tokens.clone(), &mut found);
            for (name, qualified, at) in found {
                if list.contains(&name) && (qualified || !given_names.contains(&name)) {
                    hits.push(format!("`{name}` (line {at})"));
                }
                for (j, p) in pieces.iter().enumerate() {
                    if p.exercise.as_deref() != Some(ex) && p.names.contains(&name) && !reached.contains(&j) {
                        todo.push(j);
                    }
                }
            }
        }
        if !hits.is_empty() {
            hits.sort();
            hits.dedup();
            forbidden.insert(ex.to_string(), hits.join(", "));
        }
    }

    // The stub with the taken code.
    for (at, text) in added_methods {
        edits.push((at..at, text));
    }
    if !added.is_empty() {
        edits.push((insert_at..insert_at, format!("\n\n// Added by the learner:\n{added}")));
    }
    edits.sort_by_key(|e| std::cmp::Reverse((e.0.start, e.0.end)));
    let mut text = stub.to_string();
    for (range, with) in edits {
        text.replace_range(range, &with);
    }
    Ok(Taken { text, ignored, forbidden })
}

/// The course's stub of every written chapter, by file name (`ch01_vision_tasks.rs`):
/// generated from the solutions where they are here, else the copies a handout keeps in
/// `course/stubs/` (the learner's `exercises/src` is their work, not the stub).
pub fn stubs(
    root: &std::path::Path,
    manifest: &crate::manifest::Manifest,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    if root.join("solutions/src").is_dir() {
        for f in crate::sync::plan(root, manifest)?.files {
            out.insert(f.name, f.generated);
        }
        return Ok(out);
    }
    for ch in &manifest.chapters {
        let Some(module) = &ch.module else { continue };
        let file = format!("{module}.rs");
        let text = [HANDOUT_STUBS, "exercises/src"]
            .iter()
            .find_map(|dir| std::fs::read_to_string(root.join(dir).join(&file)).ok())
            .ok_or_else(|| format!("no stub for {file} (in {HANDOUT_STUBS}/ or exercises/src/)"))?;
        out.insert(file, text);
    }
    Ok(out)
}

/// Where a handout keeps the stubs as handed out (see [`stubs`]).
pub const HANDOUT_STUBS: &str = "course/stubs";

/// The rules of `chapter`: its exercises' `forbid` lists and the tests' names.
pub fn rules<'a>(
    manifest: &'a crate::manifest::Manifest,
    chapter: &'a str,
    test_names: &'a BTreeSet<String>,
) -> Rules<'a> {
    Rules {
        chapter,
        forbid: manifest.exercises_of(chapter).map(|e| (e.id.as_str(), e.forbid.as_slice())).collect(),
        test_names,
    }
}

/// Every identifier of a Rust file (for [`Rules::test_names`]); unparsable text gives none.
pub fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = Vec::new();
    if let Ok(ts) = text.parse::<TokenStream>() {
        idents(ts, &mut out);
    }
    out.into_iter().map(|n| n.0).collect()
}

/// Reads `base/rel` when it is a regular file reached without symbolic links (`Ok(None)`:
/// missing): a submission's link to the solutions or the hidden tests is refused, not followed.
pub fn read_regular(
    base: &std::path::Path,
    rel: &std::path::Path,
    max_bytes: u64,
) -> Result<Option<String>, String> {
    let mut at = base.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for (k, part) in parts.iter().enumerate() {
        at.push(part);
        let meta = match std::fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", at.display())),
        };
        let shown = rel.iter().take(k + 1).collect::<std::path::PathBuf>();
        if meta.file_type().is_symlink() {
            return Err(format!("{} is a symbolic link: the grader takes only plain files", shown.display()));
        }
        let last = k + 1 == parts.len();
        if last && !meta.is_file() || !last && !meta.is_dir() {
            return Err(format!(
                "{} is not a plain {}",
                shown.display(),
                if last { "file" } else { "folder" }
            ));
        }
        if last && meta.len() > max_bytes {
            return Err(format!("{} is larger than {} KiB", shown.display(), max_bytes / 1024));
        }
    }
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let mut file = open.open(&at).map_err(|e| format!("cannot open {}: {e}", rel.display()))?;
    let mut bytes = Vec::new();
    use std::io::Read;
    (&mut file)
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", rel.display()))?;
    if bytes.len() as u64 > max_bytes {
        return Err(format!("{} is larger than {} KiB", rel.display(), max_bytes / 1024));
    }
    String::from_utf8(bytes).map(Some).map_err(|_| format!("{} is not UTF-8 text", rel.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STUB: &str = r#"//! A chapter.
use dfdx::prelude::*;

/// Given.
pub fn accuracy(x: &[f32]) -> f32 {
    x.iter().sum()
}

/// The first exercise.
pub fn square(x: f32) -> f32 {
    todo!("ch09 square: multiply x by itself; see book section 9.1")
}

pub struct Model {
    pub w: f32,
}

impl Model {
    pub fn new() -> Self {
        Model { w: 1.0 }
    }

    pub fn forward(&self, x: f32) -> f32 {
        todo!("ch09 forward: w times x; see book section 9.2")
    }
}

pub fn sigmoid(x: f32) -> f32 {
    todo!("ch09 sigmoid: the logistic function by hand; see book section 9.3")
}
"#;

    fn rules<'a>(forbid: &'a [String], tests: &'a BTreeSet<String>) -> Rules<'a> {
        Rules { chapter: "ch09", forbid: [("sigmoid", forbid)].into_iter().collect(), test_names: tests }
    }

    fn take_with(learner: &str) -> Result<Taken, String> {
        let forbid = ["sigmoid".to_string(), "exp".to_string()];
        let tests =
            names_in("fn t() { let m = Model::new(); assert_eq!(m.forward(2.0), 2.0); helper_of_tests(); }");
        take(STUB, learner, &rules(&forbid, &tests))
    }

    fn solved(extra: &str) -> String {
        STUB.replace(r#"todo!("ch09 square: multiply x by itself; see book section 9.1")"#, "x * x")
            .replace(r#"todo!("ch09 forward: w times x; see book section 9.2")"#, "self.w * x")
            .replace(
                r#"todo!("ch09 sigmoid: the logistic function by hand; see book section 9.3")"#,
                "1.0 / (1.0 + (-x).exp())",
            )
            + extra
    }

    #[test]
    fn exercise_functions_and_added_helpers_are_taken_given_code_is_not() {
        let learner = solved("")
            .replace("x.iter().sum()", "1.0 // the learner's accuracy")
            .replace("Model { w: 1.0 }", "Model { w: 5.0 }")
            .replace("x * x", "twice(x) * x / 2.0")
            + "\nfn twice(x: f32) -> f32 {\n    2.0 * x\n}\n";
        let t = take_with(&learner).unwrap();
        assert!(t.text.contains("twice(x) * x / 2.0"), "{}", t.text);
        assert!(t.text.contains("fn twice(x: f32)"));
        assert!(t.text.contains("self.w * x"));
        assert!(
            t.text.contains("x.iter().sum()") && !t.text.contains("the learner's accuracy"),
            "{}",
            t.text
        );
        assert!(t.text.contains("Model { w: 1.0 }") && !t.text.contains("w: 5.0"));
        assert_eq!(t.ignored.len(), 2, "{:?}", t.ignored);
        assert!(t.ignored[0].contains("`accuracy`"), "{:?}", t.ignored);
        assert!(t.ignored[1].contains("`new`"), "{:?}", t.ignored);
        // The result parses, and `todo!` is gone from the solved exercises.
        syn::parse_file(&t.text).unwrap();
        assert!(!t.text.contains("todo!"));
    }

    #[test]
    fn a_missing_exercise_keeps_its_todo() {
        let learner = solved("").replace("pub fn square(x: f32) -> f32 {\n    x * x\n}", "");
        let t = take_with(&learner).unwrap();
        assert!(t.text.contains("ch09 square"));
        assert!(!t.text.contains("ch09 forward"));
    }

    #[test]
    fn compile_time_reads_are_refused_even_from_a_macro() {
        for cheat in [
            "const T: &str = include_str!(\"../../tests/grading/ch01.rs\");",
            "macro_rules! p { ($f:literal) => { #[path = $f] mod t; } }",
            "macro_rules! q { ($a:ident) => { $a!(\"x\") } }\nconst T: &str = q!(include_str);",
            "const D: &str = env!(\"HOME\");",
            "const S: &[u8] = br#\"x\"#; const T: &str = core::include_str /* */ !(\"x\");",
            "fn g() { std::arch::global_asm!(\".incbin \\\"x\\\"\"); }",
            "use std::include_str as grab;",
            "fn g() -> &'static str { use std::{env as e}; e!(\"HOME\") }",
            "macro_rules! call { ($how:ident) => { $how!(\"x\") }; }",
            "#[no_mangle] pub fn main2() {}",
            "mod elsewhere;",
            "macro_rules! mm { ($i:ident) => { mod $i; } }",
        ] {
            let err = take_with(&solved(&format!("\n{cheat}\n"))).expect_err(cheat);
            assert!(
                err.contains("not allowed") || err.contains("inline") || err.contains("its caller names"),
                "{cheat}: {err}"
            );
        }
        let on_exercise = solved("").replace(
            "pub fn square",
            "#[doc = include_str!(\"../../tests/grading/ch01.rs\")]\npub fn square",
        );
        assert!(take_with(&on_exercise).unwrap_err().contains("`include_str` is not allowed"));
        let inner =
            format!("#![debugger_visualizer(natvis_file = \"../../solutions/src/ch01.rs\")]\n{}", solved(""));
        assert!(take_with(&inner).unwrap_err().contains("`debugger_visualizer` is not allowed"));
        // Strings and comments are no reason to refuse.
        let fine = solved(
            "\n/// include_str!(\"x\") in a doc\nconst S: &str = r#\"include_str!(\"x\") #[path]\"#;\n",
        );
        take_with(&fine).unwrap();
    }

    #[test]
    fn added_names_must_not_shadow_what_the_course_uses() {
        // A free function named like something the stub calls (`accuracy` is given; `Vec`
        // would shadow the prelude for the given code if the stub used it).
        let err = take_with(&solved("\nmacro_rules! todo { () => {} }\n")).unwrap_err();
        assert!(err.contains("`todo`"), "{err}");
        // An inherent method the tests call (through `.forward`) on a type of the learner's.
        let err = take_with(&solved("\nimpl Model { fn helper_of_tests(&self) {} }\n")).unwrap_err();
        assert!(err.contains("helper_of_tests"), "{err}");
        // A public helper named like a test's identifier; a private one is fine.
        let err = take_with(&solved("\npub fn helper_of_tests() {}\n")).unwrap_err();
        assert!(err.contains("helper_of_tests"), "{err}");
        take_with(&solved("\nfn helper_of_tests() {}\n")).unwrap();
        let err = take_with(&solved("\nuse std::f32::consts::PI as accuracy2;\nfoo!{}\n")).unwrap_err();
        assert!(err.contains("macro call outside a function"), "{err}");
    }

    #[test]
    fn forbidden_calls_are_found_through_helpers_aliases_and_methods() {
        let with = |body: &str, extra: &str| {
            let learner = solved(extra).replace("1.0 / (1.0 + (-x).exp())", body);
            take_with(&learner).unwrap().forbidden.get("sigmoid").cloned()
        };
        let by_hand = "1.0 / (1.0 + f32::powf(std::f32::consts::E, -x))";
        assert_eq!(with(by_hand, ""), None);
        // The learner's own function of that name (a bare call) is not dfdx's.
        assert_eq!(with("sigmoid(x)", ""), None);
        assert_eq!(with("(-x).exp()", "").unwrap(), "`exp` (line 29)");
        assert!(with("dfdx::prelude::sigmoid(x)", "").unwrap().contains("`sigmoid`"));
        assert!(with("x.sigmoid()", "").unwrap().contains("`sigmoid`"));
        // Through a helper it calls, or one that a helper calls; not through one it does not.
        let helper = "\nfn logistic(x: f32) -> f32 {\n    inner(x)\n}\nfn inner(x: f32) -> f32 {\n    x.sigmoid()\n}\n";
        let found = with("logistic(x)", helper).unwrap();
        assert!(found.contains("`sigmoid` (line 36)"), "{found}");
        assert_eq!(with(by_hand, helper), None);
        // An alias or glob import counts for every exercise of the file.
        assert!(with(by_hand, "\nuse dfdx::tensor_ops::sigmoid as logistic2;\n").is_some());
        assert!(with("mm!(x)", "\nmacro_rules! mm { ($x:expr) => { $x.sigmoid() } }\n").is_some());
    }

    #[test]
    fn links_and_special_files_are_not_read() {
        let dir = std::env::temp_dir().join(format!("dlcv-take-{}", std::process::id()));
        let src = dir.join("exercises/src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("a.rs"), "fn a() {}").unwrap();
        assert_eq!(read_regular(&dir, Path::new("exercises/src/a.rs"), 100).unwrap().unwrap(), "fn a() {}");
        assert_eq!(read_regular(&dir, Path::new("exercises/src/none.rs"), 100).unwrap(), None);
        assert!(read_regular(&dir, Path::new("exercises/src/a.rs"), 3).unwrap_err().contains("larger"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/hostname", src.join("b.rs")).unwrap();
            assert!(read_regular(&dir, Path::new("exercises/src/b.rs"), 100)
                .unwrap_err()
                .contains("symbolic link"));
            std::os::unix::fs::symlink(&src, dir.join("linked")).unwrap();
            assert!(read_regular(&dir, Path::new("linked/a.rs"), 100).unwrap_err().contains("symbolic link"));
        }
        std::fs::create_dir(src.join("c.rs")).unwrap();
        assert!(read_regular(&dir, Path::new("exercises/src/c.rs"), 100)
            .unwrap_err()
            .contains("not a plain file"));
        let _ = std::fs::remove_dir_all(&dir);
    }
    use std::path::Path;

    /// The course's own solutions are taken whole: nothing refused, ignored or forbidden.
    #[test]
    fn every_solution_is_taken_whole() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let manifest = crate::manifest::Manifest::load(&root.join("course.toml")).unwrap();
        let plan = crate::sync::plan(root, &manifest).unwrap();
        let tests = crate::isolate::course_test_names(root);
        assert!(tests.contains("ch01") || tests.len() > 100, "the test files were not read");
        for ch in &manifest.chapters {
            let Some(module) = &ch.module else { continue };
            let file = format!("{module}.rs");
            let stub = &plan.files.iter().find(|f| f.name == file).unwrap().generated;
            let solution = std::fs::read_to_string(root.join("solutions/src").join(&file)).unwrap();
            let rules = super::rules(&manifest, &ch.id, &tests);
            let t = take(stub, &solution, &rules).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(t.ignored.is_empty(), "{file}: {:?}", t.ignored);
            assert!(t.forbidden.is_empty(), "{file}: {:?}", t.forbidden);
            assert!(!t.text.contains("todo!(\""), "{file}: an exercise was not taken");
        }
    }
}
