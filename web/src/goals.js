// The goals editor: 1 to 5 goals, each a value, a unit and an optional
// label. Validation is the server's (PUT /api/v1/goals/...): its per-field
// messages are shown beside the fields they name. The write token is asked
// for once and kept in sessionStorage (this tab only).
import { api, ApiError } from './api.js';
import { fmt1 } from './format.js';

const TOKEN_KEY = 'desirelines.writeToken';
const MAX_GOALS = 5;

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

function rememberToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the field keeps the token for this page */
  }
}

export class GoalsEditor {
  constructor({ onSaved, announce }) {
    this.form = document.getElementById('goals-form');
    this.rows = document.getElementById('goal-rows');
    this.error = document.getElementById('goals-error');
    this.source = document.getElementById('goals-source');
    this.tokenBox = document.getElementById('token-box');
    this.tokenInput = document.getElementById('write-token');
    this.addButton = document.getElementById('goal-add');
    this.onSaved = onSaved;
    this.announce = announce;
    this.context = null;
    this.tokenInput.value = storedToken();
    this.addButton.addEventListener('click', () => this.addRow({ value: '', unit: this.context?.unit || 'km', label: '' }));
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.save();
    });
  }

  // `goals`: the API's goals answer; `unit`: the display unit for new rows.
  show(year, category, unit, goals) {
    this.context = { year, category, unit };
    this.rows.replaceChildren();
    this.clearErrors();
    for (const g of goals.goals) this.addRow(g);
    this.source.textContent =
      goals.source === 'stored'
        ? `Saved goals for ${category} in ${year}.`
        : `No goals saved for ${category} in ${year}: these three are suggested from your projection (conservative, target, stretch). Save them or change them.`;
  }

  addRow(goal) {
    const i = this.rows.children.length;
    if (i >= MAX_GOALS) return;
    const n = i + 1;
    const value = el('input', {
      type: 'number', inputmode: 'decimal', step: 'any', min: '0', id: `goal-value-${i}`,
      'data-testid': `goal-value-${i}`, 'aria-describedby': `goal-error-${i}`,
    });
    value.value = goal.value === '' ? '' : String(goal.value);
    const unit = el('select', { id: `goal-unit-${i}`, 'data-testid': `goal-unit-${i}` },
      ['km', 'mi'].map((u) => el('option', { value: u, text: u })));
    unit.value = goal.unit || 'km';
    const label = el('input', {
      type: 'text', maxlength: '40', id: `goal-label-${i}`, 'data-testid': `goal-label-${i}`,
      placeholder: 'optional', 'aria-describedby': `goal-error-${i}`,
    });
    label.value = goal.label || '';
    const remove = el('button', { type: 'button', class: 'remove', 'aria-label': `Remove goal ${n}`, text: '×' });
    remove.addEventListener('click', () => {
      const rows = this.readRows().filter((_, j) => j !== i);
      this.rows.replaceChildren();
      rows.forEach((r) => this.addRow(r));
    });
    const row = el('div', { class: 'goal-row', 'data-testid': 'goal-row' }, [
      el('label', { class: 'f-value', for: `goal-value-${i}`, text: `Goal ${n}` }), value,
      el('label', { class: 'sr-only', for: `goal-unit-${i}`, text: `Goal ${n} unit` }), unit,
      el('label', { class: 'sr-only', for: `goal-label-${i}`, text: `Goal ${n} label` }), label,
      remove,
      el('p', { class: 'field-error', id: `goal-error-${i}`, 'data-testid': `goal-error-${i}` }),
    ]);
    this.rows.append(row);
    this.addButton.disabled = this.rows.children.length >= MAX_GOALS;
  }

  readRows() {
    return [...this.rows.children].map((row) => {
      const [value, unit, label] = row.querySelectorAll('input, select');
      return { value: value.value, unit: unit.value, label: label.value };
    });
  }

  clearErrors() {
    this.error.textContent = '';
    for (const p of this.rows.querySelectorAll('.field-error')) p.textContent = '';
    for (const input of this.rows.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  }

  // "goals[2].value" -> the message beside goal 3, its field marked invalid.
  showFieldErrors(fields) {
    const general = [];
    for (const { field, message } of fields) {
      const m = /^goals\[(\d+)\]\.(\w+)$/.exec(field);
      const target = m && document.getElementById(`goal-error-${m[1]}`);
      if (!target) {
        general.push(`${field}: ${message}`);
        continue;
      }
      const n = Number(m[1]) + 1;
      target.textContent = `${target.textContent ? `${target.textContent} ` : ''}Goal ${n} ${m[2]}: ${message}.`;
      document.getElementById(`goal-${m[2]}-${m[1]}`)?.setAttribute('aria-invalid', 'true');
    }
    this.error.textContent = general.length ? general.join(' ') : 'Some goals need fixing (see above).';
  }

  async save() {
    this.clearErrors();
    const token = this.tokenInput.value.trim();
    if (!token) {
      this.tokenBox.open = true;
      this.error.textContent = 'Enter the write token to save goals.';
      this.tokenInput.focus();
      return;
    }
    rememberToken(token);
    const goals = this.readRows().map((r) => ({
      value: r.value === '' ? null : Number(r.value),
      unit: r.unit,
      ...(r.label.trim() ? { label: r.label.trim() } : {}),
    }));
    const { year, category } = this.context;
    try {
      const saved = await api.saveGoals(year, category, goals, token);
      this.announce(`Goals saved: ${saved.goals.map((g) => `${fmt1(g.value)} ${g.unit}`).join(', ')}.`);
      await this.onSaved();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (e.status === 400 && Array.isArray(e.body.fields)) this.showFieldErrors(e.body.fields);
      else if (e.status === 401) {
        rememberToken('');
        this.tokenBox.open = true;
        this.error.textContent = 'The write token was refused. Check it and try again.';
      } else this.error.textContent = `Could not save: ${e.message}.`;
    }
  }
}
