// Package ojson reads and writes JSON keeping what vpcalertd must
// reproduce byte for byte and encoding/json loses: the order of members,
// number literals as written, and the exact text of every string.
//
// Tree holds one document as an ordered tree in reusable arenas, with the
// member semantics of Python's json.load (a repeated name keeps its first
// place and takes the last value, as Wazuh's AWS wodle reads records);
// Encode writes it back unchanged, and the tree can be edited (members
// added, replaced and removed) for the documents the indexer output sends.
// Records streams the elements of one array of a large document (a
// CloudTrail file's Records) from an io.Reader, with the byte offset of
// each, so that memory is bounded by the largest element. AppendQuoted and
// Unquote are the string rules shared by both.
package ojson
