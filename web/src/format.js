// Number and date formatting shared by the cards, the chart summaries and the
// browser test. Fixed to en-US so that what is shown can be read back.

const one = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const monthDay = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });

// 1234.56 -> "1,234.6"
export function fmt1(x) {
  return one.format(x);
}

// 4321.4 -> "4,321"
export function fmt0(x) {
  return whole.format(x);
}

// "2025-11-28" -> "Nov 28"
export function fmtDay(iso) {
  if (!iso) return '';
  return monthDay.format(new Date(`${iso}T00:00:00Z`));
}

// Seconds since the epoch of UTC midnight of day `i` of `year` (0 = 1 Jan):
// the x values of both charts. Dates are the athlete's local calendar days,
// so they are drawn in UTC to avoid shifting by the browser's time zone.
export function dayEpoch(year, i) {
  return Date.UTC(year, 0, 1) / 1000 + i * 86400;
}

export function signed1(x) {
  return `${x > 0 ? '+' : x < 0 ? '−' : ''}${fmt1(Math.abs(x))}`;
}
