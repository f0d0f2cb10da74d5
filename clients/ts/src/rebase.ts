// The client's half of the server-side rebase extension (docs/protocol.md,
// "Extension: server-side rebase"): the server may apply a batch in another
// form than the one sent (rebased over steps the client had not seen yet,
// some steps dropped), and its `ack` then carries the steps as applied.
//
// `confirmAs` makes the editor's document the server's: it undoes the
// unconfirmed steps (the later ones L, then the batch B), applies the
// server's form A as confirmed steps of this client, and maps and reapplies
// L, as prosemirror-collab's `rebaseSteps` does with remote steps. Where
// A and B have the same length, each B_i whose inverse has the shape of A_i
// (same ranges, same sizes) is paired with it. When every step is, the
// transaction's mapping mirrors each pair, so positions inside the user's
// own text map into the server's copy of that text, for every position
// that is mapped through the transaction (remote carets, decorations), and
// the undo history keeps her steps in their server form.
//
// Mirrors alone are not enough for the user's own positions. A position at
// either end of her inserted text is not "inside" it for a Mapping, so it
// would stay where the text used to be: her caret would end up before a
// word she had just typed, and the next word she typed (in L, not yet sent)
// would land apart from it, or, since ReplaceStep.map maps an insertion's
// two ends with opposite biases, turn into a replacement of whatever lies
// between the old and the new place. `OwnTextMapping` maps those two kinds
// of positions (L's steps and the selection) so that both ends of a paired
// step's text count as inside it.

import {EditorState, Plugin, TextSelection, Transaction} from "prosemirror-state"
import {MapResult, Mappable, Mapping, Step, StepMap} from "prosemirror-transform"

// prosemirror-collab's state and its unconfirmed entries; neither class is
// exported, so their constructors are taken from existing instances.
interface Rebaseable { step: Step, inverted: Step, origin: unknown }
interface CollabState { version: number, unconfirmed: Rebaseable[] }
type RebaseableClass = new (step: Step, inverted: Step, origin: unknown) => Rebaseable
type CollabStateClass = new (version: number, unconfirmed: Rebaseable[]) => CollabState

/// Whether two lists of steps are the same steps, compared as JSON.
export function sameSteps(a: readonly Step[], b: readonly Step[]): boolean {
  return a.length == b.length && a.every((step, i) => JSON.stringify(step.toJSON()) == JSON.stringify(b[i].toJSON()))
}

/// A transaction that confirms the first `count` unconfirmed steps of
/// `state` as `applied`, the server's form of them, made on the confirmed
/// version; `version` is the version after them. Throws when a step does not
/// apply (the caller then resynchronizes).
export function confirmAs(state: EditorState, collabPlugin: Plugin, count: number, applied: readonly Step[],
                          version: number): Transaction {
  let collab = collabPlugin.getState(state) as CollabState
  let batch = collab.unconfirmed.slice(0, count), later = collab.unconfirmed.slice(count)
  let tr = state.tr
  for (let i = later.length - 1; i >= 0; i--) tr.step(later[i].inverted)
  for (let i = batch.length - 1; i >= 0; i--) tr.step(batch[i].inverted)
  // Map index of the inverse of batch step i -> map index of applied step i.
  let pairs = new Map<number, number>()
  for (let i = 0; i < applied.length; i++) {
    tr.step(applied[i])
    let inverse = later.length + batch.length - 1 - i, own = tr.steps.length - 1
    if (applied.length == batch.length && sameShape(tr.mapping.maps[inverse], tr.mapping.maps[own]))
      pairs.set(inverse, own)
  }
  // The mirrors only when every step is paired: prosemirror-history takes
  // the first mirrored step as the end of the steps that are not its own.
  if (pairs.size == batch.length) for (let [inverse, own] of pairs) setMirror(tr.mapping, inverse, own)
  let rebased: Rebaseable[] = []
  for (let i = 0, mapFrom = later.length; i < later.length; i++) {
    let mapped = later[i].step.map(new OwnTextMapping(tr.mapping, pairs, mapFrom))
    mapFrom--
    if (mapped && !tr.maybeStep(mapped).failed) {
      setMirror(tr.mapping, mapFrom, tr.steps.length - 1)
      let Rebaseable = later[i].constructor as RebaseableClass
      rebased.push(new Rebaseable(mapped, mapped.invert(tr.docs[tr.docs.length - 1]), later[i].origin))
    }
  }
  if (state.selection instanceof TextSelection) {
    // Mapped backward, as receiveTransaction's mapSelectionBackward does.
    let mapping = new OwnTextMapping(tr.mapping, pairs, 0), size = tr.doc.content.size
    let map = (pos: number) => Math.min(size, Math.max(0, mapping.map(pos, -1)))
    tr.setSelection(TextSelection.between(tr.doc.resolve(map(state.selection.anchor)),
                                          tr.doc.resolve(map(state.selection.head)), -1))
    // Not a selection the user made (receiveTransaction does the same).
    ;(tr as unknown as {updated: number}).updated &= ~1
  }
  let CollabState = collab.constructor as CollabStateClass
  // "rebased" tells prosemirror-history that the last that many of its items
  // were undone at the start of the transaction and that the mirrors say
  // where each came back; an item without a mirror (a batch step the server
  // changed beyond recognition) is dropped from the undo history.
  if (batch.length + later.length) tr.setMeta("rebased", batch.length + later.length)
  return tr.setMeta("addToHistory", false).setMeta(collabPlugin, new CollabState(version, rebased))
}

/// How many of the first `count` unconfirmed steps of `before` a
/// transaction made by `receiveTransaction` from it (with no step of this
/// client in front) keeps: rebasing drops the steps that no longer apply,
/// and each one kept is mirrored with its inverse in the mapping.
export function keptOf(before: EditorState, collabPlugin: Plugin, tr: Transaction, count: number): number {
  let n = (collabPlugin.getState(before) as CollabState).unconfirmed.length
  if (!tr.getMeta("rebased")) return count
  let kept = 0
  for (let i = 0; i < count; i++) if (tr.mapping.getMirror(n - 1 - i) != null) kept++
  return kept
}

// Mapping.setMirror is public in JavaScript (prosemirror-collab calls it)
// but marked internal in prosemirror-transform's types.
function setMirror(mapping: Mapping, n: number, m: number) {
  (mapping as unknown as {setMirror(n: number, m: number): void}).setMirror(n, m)
}

interface Range { oldStart: number, oldEnd: number, newStart: number, newEnd: number }

function ranges(map: StepMap): Range[] {
  let result: Range[] = []
  map.forEach((oldStart, oldEnd, newStart, newEnd) => result.push({oldStart, oldEnd, newStart, newEnd}))
  return result
}

// Whether `inverse` (undoing a batch step) and `applied` (the server's form
// of it) change the same amounts in the same order: then the text the
// batch step inserted and the text the server's step inserted have the same
// size, range by range, and an offset into one is an offset into the other.
function sameShape(inverse: StepMap, applied: StepMap): boolean {
  let a = ranges(inverse), b = ranges(applied)
  return a.length == b.length && a.every((r, i) =>
    r.oldEnd - r.oldStart == b[i].newEnd - b[i].newStart && r.newEnd - r.newStart == b[i].oldEnd - b[i].oldStart)
}

// The range of `map` that holds `pos` (ends included), the first one, as
// StepMap.mapResult finds it.
function rangeAt(map: StepMap, pos: number): {index: number, range: Range} | null {
  let all = ranges(map), index = all.findIndex(r => r.oldStart <= pos && pos <= r.oldEnd)
  return index < 0 ? null : {index, range: all[index]}
}

// Maps through the maps of `mapping` from index `from` on, exactly as
// Mapping.map does (mirrors included), except at the inverse of a paired
// batch step: there a position anywhere in what the batch step inserted,
// its start and end included whatever the bias, goes to the same offset
// in what the server's step inserted.
class OwnTextMapping implements Mappable {
  constructor(readonly mapping: Mapping, readonly pairs: Map<number, number>, readonly from: number) {}

  map(pos: number, assoc = 1): number { return this.mapResult(pos, assoc).pos }

  mapResult(pos: number, assoc = 1): MapResult {
    let maps = this.mapping.maps
    let deleted = false, deletedBefore = false, deletedAfter = false, deletedAcross = false
    for (let i = this.from; i < maps.length; i++) {
      let pair = this.pairs.get(i), mirror = pair ?? this.mapping.getMirror(i)
      if (mirror != null && mirror > i) {
        let at = rangeAt(maps[i], pos)
        // Mapping.map recovers a position unless it is at the end of the
        // range that `assoc` points to.
        if (at && (pair != null || pos != (assoc < 0 ? at.range.oldStart : at.range.oldEnd))) {
          pos = ranges(maps[mirror])[at.index].newStart + pos - at.range.oldStart
          i = mirror
          continue
        }
      }
      let result = maps[i].mapResult(pos, assoc)
      deleted ||= result.deleted
      deletedBefore ||= result.deletedBefore
      deletedAfter ||= result.deletedAfter
      deletedAcross ||= result.deletedAcross
      pos = result.pos
    }
    return {pos, deleted, deletedBefore, deletedAfter, deletedAcross}
  }
}
