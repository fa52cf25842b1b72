// Forms from declarations: every field of a command form comes from the command's ArgDecl (and,
// for add and set, the PropertyDecl behind it): its type decides the control (a yes/no choice, a
// list of the enum's or the reference's values, check boxes for a comma list, a masked field for
// a sensitive value), its help and type help describe it, its default is the placeholder. The
// submitted form becomes the executor's argument map; the executor parses every value through
// the same types as for the console, REST and the API, and its error comes back next to the field
// it names.

import { boolType, presenceType } from '../../menu/proptypes.js';
import type { ArgDecl, TypeContext } from '../../menu/types.js';
import type { Value } from '../../menu/values.js';
import { esc } from './html.js';

/** More choices than this make a text field (a CA among 10,000 certificates), not a list. */
const MAX_LISTED_CHOICES = 200;

export interface FieldState {
  /** The value shown (a set form: the item's current value; after an error: what was sent). */
  value?: string;
  /** The value the item has (a set form): the field is sent only when it differs. */
  original?: string;
  /** What the property is when not given (placeholder). */
  placeholder?: string;
  /** Not writable on this item (a signed certificate's subject). */
  disabled?: boolean;
  /** RouterOS's message for this field. */
  error?: string;
  /** The item list of a row command is fixed by the page: shown, sent hidden. */
  fixed?: string;
}

const fieldId = (name: string): string => `f-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;

/** Whether the argument is an item list (`numbers`, `number`): it is given by the row, not typed. */
export function isItemsArg(arg: ArgDecl): boolean {
  return arg.positional === 0 && (arg.name === 'numbers' || arg.name === 'number');
}

/** The argument's help, its type's help where the control does not list the choices itself, and its default. */
function describe(arg: ArgDecl, state: FieldState, listed: boolean): string {
  const parts = [arg.help, arg.type.help && !arg.flagOnly && !listed ? `(${arg.type.help})` : '', state.placeholder !== undefined && state.placeholder !== '' ? `default: ${state.placeholder}` : '']
    .filter((p) => p);
  return parts.join(' ');
}

/** One labelled control with its description and error. */
export function fieldHtml(arg: ArgDecl, state: FieldState, ctx: TypeContext): string {
  const id = fieldId(arg.name);
  const choices = state.fixed === undefined ? arg.type.choices?.(ctx) : undefined;
  const help = describe(arg, state, !!choices && choices.length <= MAX_LISTED_CHOICES);
  const describedBy = [help ? `${id}-help` : '', state.error ? `${id}-err` : ''].filter((x) => x).join(' ');
  const aria = `${describedBy ? ` aria-describedby="${describedBy}"` : ''}${state.error ? ' aria-invalid="true"' : ''}${state.disabled ? ' disabled' : ''}`;
  const original = state.original !== undefined ? `<input type="hidden" name="_orig.${esc(arg.name)}" value="${esc(state.original)}">` : '';
  const helpHtml = help ? `<small id="${id}-help">${esc(help)}</small>` : '';
  const errHtml = state.error ? `<p class="err" id="${id}-err">${esc(state.error)}</p>` : '';
  const required = arg.required ? ' <abbr title="required" aria-hidden="true">*</abbr>' : '';
  const label = `<label for="${id}">${esc(arg.name)}${required}</label>`;
  const value = state.value ?? '';
  if (state.fixed !== undefined) {
    return `<div class="field fixed"><span class="label">${esc(arg.name)}</span> <strong>${esc(state.fixed)}</strong><input type="hidden" name="${esc(arg.name)}" value="${esc(value)}">${errHtml}</div>`;
  }
  if (arg.flagOnly || arg.type === presenceType) {
    return `<div class="field check"><input type="checkbox" id="${id}" name="${esc(arg.name)}" value="yes"${value === 'yes' ? ' checked' : ''}${aria}> ${label}${helpHtml}${errHtml}</div>`;
  }
  if (choices && arg.type.multiple && choices.length <= MAX_LISTED_CHOICES) {
    const chosen = new Set(value.split(',').filter((v) => v !== ''));
    const boxes = choices.map((c, i) => `<label class="opt"><input type="checkbox" name="${esc(arg.name)}" value="${esc(c)}" id="${id}-${i}"${chosen.has(c) ? ' checked' : ''}${state.disabled ? ' disabled' : ''}> ${esc(c)}</label>`).join('');
    return `<fieldset class="field multi"${aria}><legend>${esc(arg.name)}${required}</legend><input type="hidden" name="_multi.${esc(arg.name)}" value="1">${original}<div class="opts">${boxes}</div>${helpHtml}${errHtml}</fieldset>`;
  }
  const req = arg.required ? ' aria-required="true"' : '';
  if (choices && !arg.type.multiple && choices.length <= MAX_LISTED_CHOICES) {
    const list = arg.type === boolType ? ['yes', 'no'] : choices;
    const blank = `<option value=""${value === '' ? ' selected' : ''}>${state.placeholder !== undefined && state.placeholder !== '' ? `(default: ${esc(state.placeholder)})` : '—'}</option>`;
    const options = list.map((c) => `<option${c === value ? ' selected' : ''}>${esc(c)}</option>`).join('');
    return `<div class="field">${label}<select id="${id}" name="${esc(arg.name)}"${aria}${req}>${blank}${options}</select>${original}${helpHtml}${errHtml}</div>`;
  }
  const type = arg.sensitive ? 'password' : 'text';
  const shown = arg.sensitive ? '' : value;
  const placeholder = state.placeholder ? ` placeholder="${esc(state.placeholder)}"` : '';
  return `<div class="field">${label}<input type="${type}" id="${id}" name="${esc(arg.name)}" value="${esc(shown)}"${placeholder}${aria}${req} autocomplete="off" spellcheck="false">${original}${helpHtml}${errHtml}</div>`;
}

/** The form's fields as a command's arguments (names as declared; values as text for the executor). */
export function formArgs(args: readonly ArgDecl[], form: URLSearchParams | FormData): Map<string, Value> {
  const out = new Map<string, Value>();
  const text = (k: string): string | undefined => {
    const v = form.get(k);
    return typeof v === 'string' ? v : undefined;
  };
  for (const arg of args) {
    const original = text(`_orig.${arg.name}`);
    if (arg.flagOnly || arg.type === presenceType) {
      if (text(arg.name) === 'yes') out.set(arg.name, true);
      continue;
    }
    let value: string | undefined;
    if (text(`_multi.${arg.name}`) !== undefined) value = form.getAll(arg.name).filter((v): v is string => typeof v === 'string').join(',');
    else value = text(arg.name);
    if (value === undefined) continue;
    if (original !== undefined) {
      // An edit sends what changed; clearing a field sends the empty value.
      if (value !== original) out.set(arg.name, value);
      continue;
    }
    if (value !== '') out.set(arg.name, value);
  }
  return out;
}

/**
 * The field an error is about: RouterOS names the argument in its messages (`missing value of
 * name`, `invalid value for argument days-valid`, `value of key-size is out of range`, `country
 * must be …`). The longest name wins (`ca-crl-host` before `ca`).
 */
export function errorField(message: string, names: readonly string[]): string | undefined {
  const sorted = [...names].sort((a, b) => b.length - a.length);
  return sorted.find((n) => new RegExp(`(^|[^A-Za-z0-9.-])${n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^A-Za-z0-9-])`).test(message));
}
