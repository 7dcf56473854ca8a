// Package rules evaluates decoded events against a Wazuh-compatible rule
// tree written in YAML with expr conditions, and reproduces Wazuh 4.x's
// evaluation exactly (docs/wazuh-compat.md, "Rule loading and the tree" to
// "Groups, compliance and MITRE"): the if_sid tree with level-0-first
// sibling order, depth-first first-matching-child-wins,
// OS_Regex/OS_Match semantics, CDB lists, $(field) descriptions,
// firedtimes, and if_matched_sid frequency correlation with
// previous_output.
//
// Load reads the rule files and lists of one or more layers, validates
// them (every error with file:line:col, rule id and field) and compiles
// each condition once: field references become symbol lookups (Set.Symbols
// is shared with the decoders), and the checked expr tree is turned into
// Go closures for the shapes rules use, with expr's VM as the fallback.
// Set.Eval (or an Evaluator per goroutine, which does not allocate)
// returns the final rule of an event. EvalAll also runs the packs: rule
// files with a `pack:` name, each of whose top-level rules is a tree of its
// own evaluated after the stock tree, so that a pack only adds alerts; a
// pack can be switched off (Options.DisabledPacks). Beyond Wazuh, rules
// may aggregate over a window on the events' own time (count, distinct
// values, sum) and call network helpers (CIDR blocks and lists on a prefix
// trie, private/public addresses, protocol names, TCP flags, EC2
// permissions open to the world). The YAML language is documented key by
// key in README.md.
package rules
