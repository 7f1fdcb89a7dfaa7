#!/usr/bin/env node
// Writes fixtures/hcore/sample/hcore-sample.json: one Django fixture array (the shape of
// `manage.py dumpdata hcore`) exercising every non-private hcore model and every shape the
// real Enhydris data has: MTI chains, forward self-references, the nullable Gentity <->
// WaterBasin cycle, NOT NULL FKs into MTI parents, an auto m2m and a through m2m.
//
// Deterministic: a seeded PRNG and no clock, so re-running gives a byte-identical file.
// Usage: node scripts/make-sample.mjs [output path]

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MANIFEST = join(ROOT, 'fixtures/hcore/app.json');
const OUT = process.argv[2] ?? join(ROOT, 'fixtures/hcore/sample/hcore-sample.json');

// ---------------------------------------------------------------- PRNG and helpers

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(20100510);
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = (arr) => arr[Math.floor(rand() * arr.length)];
const chance = (p) => rand() < p;
const round = (x, d) => Number(x.toFixed(d));
function shuffle(arr) {
  const a = arr.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
function sample(arr, n) {
  return shuffle(arr).slice(0, n);
}
const pad = (n, w = 2) => String(n).padStart(w, '0');
// Day number -> YYYY-MM-DD, via Date.UTC (pure arithmetic, no clock).
const DAY = 86400000;
const dayNum = (y, m, d) => Date.UTC(y, m - 1, d) / DAY;
function isoDate(day) {
  const dt = new Date(day * DAY);
  return `${dt.getUTCFullYear()}-${pad(dt.getUTCMonth() + 1)}-${pad(dt.getUTCDate())}`;
}
const randomDate = (fromY, toY) => isoDate(int(dayNum(fromY, 1, 1), dayNum(toY, 12, 31)));
const LM_FROM = dayNum(2023, 1, 1);
const LM_TO = dayNum(2024, 6, 30);
function lastModified() {
  const d = isoDate(int(LM_FROM, LM_TO));
  return `${d}T${pad(int(6, 20))}:${pad(int(0, 59))}:${pad(int(0, 59))}Z`;
}

// ---------------------------------------------------------------- object registry
// Objects reference each other by JS identity; pks are resolved when serialising, so pks can
// be (re)assigned freely before that.

const manifest = JSON.parse(readFileSync(MANIFEST, 'utf8'));
const MODELS = manifest.models;
const objects = new Map(); // model name -> array of records
for (const name of Object.keys(MODELS)) objects.set(name, []);

const ref = (rec) => ({ $ref: rec });

// A record is { pk, fields }. `root` records carry the Enhydris tags.
function add(model, fields, pk = undefined) {
  const md = MODELS[model];
  if (!md) throw new Error(`unknown model ${model}`);
  const rec = { model, pk, fields: { ...fields } };
  if (!md.parent) {
    rec.fields.last_modified = lastModified();
    rec.fields.original_id = null;
    rec.fields.original_db = null;
  }
  objects.get(model).push(rec);
  return rec;
}
function numberSequentially(model) {
  objects.get(model).forEach((rec, i) => (rec.pk = i + 1));
}

// MTI: a chain of records sharing one pk object.
function mti(chain) {
  // chain: [[model, fields], ...] from the root down; returns { root, leaf, recs }
  const recs = chain.map(([model, fields]) => add(model, fields));
  return { root: recs[0], leaf: recs[recs.length - 1], recs };
}

// ---------------------------------------------------------------- lookups

const lookups = (model, rows, extra = () => ({})) =>
  rows.map((r) => add(model, { descr: r[0], descr_alt: r[1], ...extra(r) }));

const altCodeTypes = lookups('GentityAltCodeType', [
  ['Κωδικός ΕΜΥ', 'HNMS code'],
  ['Κωδικός WMO', 'WMO code'],
  ['Κωδικός ΔΕΗ', 'PPC code'],
]);
const fileTypes = lookups(
  'FileType',
  [
    ['Φωτογραφία', 'Photo', 'image/jpeg'],
    ['Έγγραφο PDF', 'PDF document', 'application/pdf'],
    ['Κείμενο', 'Text', 'text/plain'],
    ['Σχέδιο', 'Drawing', 'image/png'],
  ],
  (r) => ({ mime_type: r[2] }),
);
const eventTypes = lookups('EventType', [
  ['Συντήρηση', 'Maintenance'],
  ['Βλάβη', 'Failure'],
  ['Βαθμονόμηση', 'Calibration'],
  ['Επίσκεψη', 'Site visit'],
  ['Αντικατάσταση οργάνου', 'Instrument replacement'],
]);
const stationTypes = lookups('StationType', [
  ['Μετεωρολογικός', 'Meteorological'],
  ['Βροχομετρικός', 'Raingauge'],
  ['Υδρομετρικός', 'Stage gauge'],
  ['Κλιματολογικός', 'Climatological'],
  ['Υδρογεωλογικός', 'Hydrogeological'],
]);
const instrumentTypes = lookups('InstrumentType', [
  ['Βροχόμετρο', 'Rain gauge'],
  ['Βροχογράφος', 'Rain recorder'],
  ['Θερμόμετρο', 'Thermometer'],
  ['Υγρόμετρο', 'Hygrometer'],
  ['Ανεμόμετρο', 'Anemometer'],
  ['Σταθμήμετρο', 'Water level sensor'],
  ['Καταγραφικό', 'Data logger'],
]);
const V = {};
const variables = lookups('Variable', [
  ['Βροχόπτωση', 'Precipitation'],
  ['Θερμοκρασία αέρα', 'Air temperature'],
  ['Σχετική υγρασία', 'Relative humidity'],
  ['Ταχύτητα ανέμου', 'Wind speed'],
  ['Διεύθυνση ανέμου', 'Wind direction'],
  ['Στάθμη', 'Water level'],
  ['Παροχή', 'Discharge'],
  ['Ηλιακή ακτινοβολία', 'Solar radiation'],
  ['Ατμοσφαιρική πίεση', 'Atmospheric pressure'],
  ['Εξάτμιση', 'Evaporation'],
  ['Χιονόπτωση', 'Snowfall'],
]);
for (const v of variables) V[v.fields.descr_alt] = v;
const unitRows = [
  ['Χιλιοστά', 'Millimetres', 'mm', ['Precipitation', 'Evaporation', 'Snowfall']],
  ['Βαθμοί Κελσίου', 'Degrees Celsius', '°C', ['Air temperature']],
  ['Εκατοστιαίο ποσοστό', 'Percent', '%', ['Relative humidity']],
  ['Μέτρα ανά δευτερόλεπτο', 'Metres per second', 'm/s', ['Wind speed']],
  ['Μοίρες', 'Degrees', '°', ['Wind direction']],
  ['Μέτρα', 'Metres', 'm', ['Water level']],
  ['Κυβικά μέτρα ανά δευτερόλεπτο', 'Cubic metres per second', 'm³/s', ['Discharge']],
  ['Βατ ανά τετραγωνικό μέτρο', 'Watts per square metre', 'W/m²', ['Solar radiation']],
  ['Εκτοπασκάλ', 'Hectopascals', 'hPa', ['Atmospheric pressure']],
  ['Εκατοστά', 'Centimetres', 'cm', ['Snowfall', 'Water level']],
  ['Αδιάστατο', 'Dimensionless', '-', []],
  ['Κιλοβατώρες', 'Kilowatt hours', 'kWh', []],
];
const units = unitRows.map(([d, da, symbol, vars]) =>
  add('UnitOfMeasurement', {
    descr: d,
    descr_alt: da,
    symbol,
    variables: vars.map((n) => ref(V[n])),
  }),
);
const unitsFor = (variable) =>
  units.filter((u) => u.fields.variables.some((r) => r.$ref === variable));

const timeZones = [
  ['EET', 120],
  ['EEST', 180],
  ['UTC', 0],
  ['CET', 60],
  ['EST', -300],
  ['NST', -210],
].map(([code, utc_offset]) => add('TimeZone', { code, utc_offset }));
const timeSteps = [
  ['Δεκάλεπτο', 'Ten-minute', 10, 0],
  ['Ωριαίο', 'Hourly', 60, 0],
  ['Ημερήσιο', 'Daily', 1440, 0],
  ['Μηνιαίο', 'Monthly', 0, 1],
  ['Ετήσιο', 'Annual', 0, 12],
  ['Πεντάλεπτο', 'Five-minute', 5, 0],
].map(([descr, descr_alt, length_minutes, length_months]) =>
  add('TimeStep', { descr, descr_alt, length_minutes, length_months }),
);

// ---------------------------------------------------------------- legal entities

const personRows = [
  ['Παπαδόπουλος', 'Γεώργιος', 'Κωνσταντίνος', 'Γ.Κ.', 'Papadopoulos', 'Georgios', 'Konstantinos', 'G.K.'],
  ['Γεωργίου', 'Μαρία', '', 'Μ.', 'Georgiou', 'Maria', '', 'M.'],
  ['Νικολάου', 'Νικόλαος', '', 'Ν.', 'Nikolaou', 'Nikolaos', '', 'N.'],
  ['Οικονόμου', 'Ελένη', 'Αικατερίνη', 'Ε.Α.', 'Oikonomou', 'Eleni', 'Aikaterini', 'E.A.'],
  ['Δημητρίου', 'Κωνσταντίνος', '', 'Κ.', 'Dimitriou', 'Konstantinos', '', 'K.'],
  ['Ιωάννου', 'Αικατερίνη', '', 'Α.', 'Ioannou', 'Aikaterini', '', 'A.'],
  ['Παπαγεωργίου', 'Δημήτριος', 'Ιωάννης', 'Δ.Ι.', 'Papageorgiou', 'Dimitrios', 'Ioannis', 'D.I.'],
  ['Αντωνίου', 'Σοφία', '', 'Σ.', 'Antoniou', 'Sofia', '', 'S.'],
  ['Κωνσταντίνου', 'Ιωάννης', '', 'Ι.', 'Konstantinou', 'Ioannis', '', 'I.'],
  ['Βασιλείου', 'Αναστασία', '', 'Α.', 'Vasileiou', 'Anastasia', '', 'A.'],
  ['Μακρής', 'Παναγιώτης', '', 'Π.', 'Makris', 'Panagiotis', '', 'P.'],
  ['Αθανασίου', 'Ευαγγελία', 'Μαρία', 'Ε.Μ.', 'Athanasiou', 'Evangelia', 'Maria', 'E.M.'],
  ['Χριστοδούλου', 'Χρήστος', '', 'Χ.', 'Christodoulou', 'Christos', '', 'Ch.'],
  ['Πετροπούλου', 'Ιωάννα', '', 'Ι.', 'Petropoulou', 'Ioanna', '', 'I.'],
  ['Σταυρόπουλος', 'Βασίλειος', '', 'Β.', 'Stavropoulos', 'Vasileios', '', 'V.'],
  ['Καραγιάννη', 'Δέσποινα', '', 'Δ.', 'Karagianni', 'Despoina', '', 'D.'],
  ['Μιχαηλίδης', 'Αντώνιος', 'Στέφανος', 'Α.Σ.', 'Michailidis', 'Antonios', 'Stefanos', 'A.S.'],
  ['Λαμπράκη', 'Αγγελική', '', 'Α.', 'Lamprakis', 'Angeliki', '', 'A.'],
  ['Ζαχαρίου', 'Στυλιανός', '', 'Σ.', 'Zachariou', 'Stylianos', '', 'S.'],
  ['Smith', 'John', 'Edward', 'J.E.', '', '', '', ''],
];
const orgRows = [
  ['Εθνικό Μετσόβιο Πολυτεχνείο', 'ΕΜΠ', 'National Technical University of Athens', 'NTUA'],
  ['Εθνική Μετεωρολογική Υπηρεσία', 'ΕΜΥ', 'Hellenic National Meteorological Service', 'HNMS'],
  ['Δημόσια Επιχείρηση Ηλεκτρισμού', 'ΔΕΗ', 'Public Power Corporation', 'PPC'],
  ['Υπουργείο Αγροτικής Ανάπτυξης και Τροφίμων', 'ΥΠΑΑΤ', 'Ministry of Rural Development and Food', 'MRDF'],
  ['Εθνικό Αστεροσκοπείο Αθηνών', 'ΕΑΑ', 'National Observatory of Athens', 'NOA'],
  ['Ελληνικό Κέντρο Θαλάσσιων Ερευνών', 'ΕΛΚΕΘΕ', 'Hellenic Centre for Marine Research', 'HCMR'],
  ['Εταιρεία Ύδρευσης και Αποχέτευσης Πρωτευούσης', 'ΕΥΔΑΠ', 'Athens Water Supply and Sewerage Company', 'EYDAP'],
  ['Ινστιτούτο Γεωλογικών και Μεταλλευτικών Ερευνών', 'ΙΓΜΕ', 'Institute of Geology and Mineral Exploration', 'IGME'],
];
const lentityRemarks = () =>
  pick(['', '', '', 'Στοιχεία από το παλαιό μητρώο.', 'Επαφή μέσω email.']);

const persons = personRows.map((r) =>
  mti([
    ['Lentity', { remarks: lentityRemarks(), remarks_alt: '' }],
    [
      'Person',
      {
        last_name: r[0], first_name: r[1], middle_names: r[2], initials: r[3],
        last_name_alt: r[4], first_name_alt: r[5], middle_names_alt: r[6], initials_alt: r[7],
      },
    ],
  ]),
);
const orgs = orgRows.map((r) =>
  mti([
    ['Lentity', { remarks: lentityRemarks(), remarks_alt: '' }],
    ['Organization', { name: r[0], acronym: r[1], name_alt: r[2], acronym_alt: r[3] }],
  ]),
);
// Legal entities that are neither a Person nor an Organization (Enhydris has such rows).
const bareLentities = [
  add('Lentity', { remarks: 'Ιδιώτης ιδιοκτήτης', remarks_alt: 'Private owner' }),
  add('Lentity', { remarks: 'Άγνωστος ιδιοκτήτης (παλαιά εγγραφή)', remarks_alt: 'Unknown owner (legacy record)' }),
];
// Lentity pks shuffled over the three kinds.
shuffle(objects.get('Lentity')).forEach((rec, i) => (rec.pk = i + 1));

// ---------------------------------------------------------------- geographical entities

const gentityFields = (name, name_alt, extra = {}) => ({
  name,
  short_name: extra.short_name ?? '',
  remarks: extra.remarks ?? '',
  name_alt,
  short_name_alt: extra.short_name_alt ?? '',
  remarks_alt: extra.remarks_alt ?? '',
  water_basin: extra.water_basin ? ref(extra.water_basin) : null,
  water_division: extra.water_division ? ref(extra.water_division) : null,
  political_division: extra.political_division ? ref(extra.political_division) : null,
});

// Water divisions
const WD = {};
for (const [code, n, na, area] of [
  ['GR04', 'Δυτική Στερεά Ελλάδα', 'Western Sterea Ellada', 10199.3],
  ['GR08', 'Θεσσαλία', 'Thessalia', 13377.0],
  ['GR06', 'Αττική', 'Attica', 3207.45],
  ['GR10', 'Κεντρική Μακεδονία', 'Central Macedonia', 10389.6],
]) {
  const c = mti([
    ['Gentity', gentityFields(n, na, { short_name: code, short_name_alt: code })],
    ['Garea', { area }],
    ['WaterDivision', {}],
  ]);
  WD[code] = c;
}

// Political divisions: country -> regions -> regional units (NUTS codes, at most 5 chars).
const PD = {};
function politicalDivision(code, n, na, parent, area) {
  const c = mti([
    ['Gentity', gentityFields(n, na)],
    ['Garea', { area }],
    ['PoliticalDivision', { code, parent: parent ? ref(parent.leaf) : null }],
  ]);
  PD[code] = c;
  return c;
}
politicalDivision('EL', 'Ελλάδα', 'Greece', null, 131957.0);
politicalDivision('EL63', 'Δυτική Ελλάδα', 'Western Greece', PD.EL, 11350.2);
politicalDivision('EL61', 'Θεσσαλία', 'Thessaly', PD.EL, 14036.6);
politicalDivision('EL30', 'Αττική', 'Attica', PD.EL, 3808.1);
politicalDivision('EL52', 'Κεντρική Μακεδονία', 'Central Macedonia', PD.EL, 18810.5);
politicalDivision('EL631', 'Αιτωλοακαρνανία', 'Aetolia-Acarnania', PD.EL63, 5447.2);
politicalDivision('EL612', 'Λάρισα', 'Larissa', PD.EL61, 5381.0);
politicalDivision('EL613', 'Τρίκαλα', 'Trikala', PD.EL61, 3367.4);
politicalDivision('EL305', 'Ανατολική Αττική', 'East Attica', PD.EL30, 1513.0);
politicalDivision('EL522', 'Θεσσαλονίκη', 'Thessaloniki', PD.EL52, 3683.0);
PD.EL522.root.fields.political_division = ref(PD.EL52.leaf); // a Gentity row pointing at its region

// Water basins. A sub-basin's parent is its main basin, and its Gentity row's water_basin
// also points at that main basin (the nullable cycle Gentity -> WaterBasin -> Gentity).
const WB = {};
function waterBasin(key, n, na, wd, parent, area, { sendDivision = true } = {}) {
  const c = mti([
    [
      'Gentity',
      gentityFields(n, na, {
        water_division: WD[wd].leaf,
        water_basin: parent ? parent.leaf : null,
      }),
    ],
    ['Garea', { area }],
    [
      'WaterBasin',
      {
        parent: parent ? ref(parent.leaf) : null,
        water_division: sendDivision ? ref(WD[wd].leaf) : null,
      },
    ],
  ]);
  WB[key] = c;
  return c;
}
waterBasin('acheloos', 'Αχελώος', 'Acheloos', 'GR04', null, 5537.4);
waterBasin('trichonida', 'Λίμνη Τριχωνίδα', 'Lake Trichonida', 'GR04', WB.acheloos, 404.25);
waterBasin('tavropos', 'Ταυρωπός', 'Tavropos (Megdovas)', 'GR04', WB.acheloos, 1041.8, { sendDivision: false });
waterBasin('evinos', 'Εύηνος', 'Evinos', 'GR04', null, 1118.6);
waterBasin('mornos', 'Μόρνος', 'Mornos', 'GR04', null, 1032.7);
waterBasin('pinios', 'Πηνειός Θεσσαλίας', 'Pinios (Thessaly)', 'GR08', null, 9453.5);
waterBasin('enipeas', 'Ενιπέας', 'Enipeas', 'GR08', WB.pinios, 2983.15);
waterBasin('kifisos', 'Κηφισός Αττικής', 'Kifisos (Attica)', 'GR06', null, 380.9);
waterBasin('aliakmonas', 'Αλιάκμονας', 'Aliakmonas', 'GR10', null, 9210.0);

// Gareas that are neither division nor basin.
const bareGareas = [
  mti([
    ['Gentity', gentityFields('Πειραματική λεκάνη Πάρνηθας', 'Parnitha experimental catchment', { water_basin: WB.kifisos.leaf, water_division: WD.GR06.leaf, political_division: PD.EL305.leaf })],
    ['Garea', { area: 12.75 }],
  ]),
  mti([
    ['Gentity', gentityFields('Ζώνη προστασίας ταμιευτήρα Μόρνου', 'Mornos reservoir protection zone', { water_basin: WB.mornos.leaf })],
    ['Garea', { area: null }],
  ]),
];
// Gentities with no subtype at all.
const bareGentities = [
  mti([['Gentity', gentityFields('Περιοχή μελέτης Τριχωνίδας', 'Trichonida study area', { water_basin: WB.trichonida.leaf, remarks: 'Χωρίς γεωμετρία.', remarks_alt: 'No geometry.' })]]),
  mti([['Gentity', gentityFields('Legacy entity', '', { remarks: 'Imported from the 2005 inventory.' })]]),
];

// Points. Coordinates: WGS84 (srid 4326, lon/lat) or GGRS87 (srid 2100, metres).
function point(lon, lat, alt) {
  const ggrs = chance(0.35);
  if (ggrs) {
    // Rough GGRS87 projection, good enough for a sample.
    const x = round(500000 + (lon - 24) * 88000 + rand(), 2);
    const y = round(lat * 110950 - 150000 + rand(), 2);
    return { abscissa: x, ordinate: y, altitude: alt, srid: 2100, asrid: chance(0.5) ? 5714 : null, approximate: chance(0.2) };
  }
  return { abscissa: round(lon, 6), ordinate: round(lat, 6), altitude: alt, srid: 4326, asrid: null, approximate: chance(0.2) };
}

const stationRows = [
  // name, name_alt, basin, wd, pd, lon, lat, altitude
  ['Κρεμαστά', 'Kremasta', 'acheloos', 'GR04', 'EL631', 21.4982, 38.8864, 285.0],
  ['Καστράκι', 'Kastraki', 'acheloos', 'GR04', 'EL631', 21.3601, 38.7458, 145.5],
  ['Στράτος', 'Stratos', 'acheloos', 'GR04', 'EL631', 21.3271, 38.6762, 69.2],
  ['Αγρίνιο', 'Agrinio', 'trichonida', 'GR04', 'EL631', 21.4094, 38.6218, 36.8],
  ['Θέρμο', 'Thermo', 'trichonida', 'GR04', 'EL631', 21.6655, 38.5693, 375.0],
  ['Ταυρωπός (φράγμα)', 'Tavropos dam', 'tavropos', 'GR04', null, 21.7519, 39.1432, 833.0],
  ['Καρπενήσι', 'Karpenisi', 'tavropos', 'GR04', null, 21.7907, 38.9144, 960.0],
  ['Κρικέλλο', 'Krikello', 'evinos', 'GR04', null, 21.6628, 38.7136, 1150.0],
  ['Πόρος Ρηγανίου', 'Poros Riganiou', 'evinos', 'GR04', 'EL631', 21.6981, 38.4632, 220.3],
  ['Λιδωρίκι', 'Lidoriki', 'mornos', 'GR04', null, 22.1978, 38.5307, 546.0],
  ['Πενταγιοί', 'Pentagioi', 'mornos', 'GR04', null, 22.1083, 38.5844, 780.0],
  ['Λάρισα', 'Larisa', 'pinios', 'GR08', 'EL612', 22.4187, 39.6391, 73.6],
  ['Τρίκαλα', 'Trikala', 'pinios', 'GR08', 'EL613', 21.7675, 39.5553, 116.0],
  ['Καλαμπάκα', 'Kalampaka', 'pinios', 'GR08', 'EL613', 21.6269, 39.7042, 240.0],
  ['Ελασσόνα', 'Elassona', 'pinios', 'GR08', 'EL612', 22.1866, 39.8941, 290.0],
  ['Φάρσαλα', 'Farsala', 'enipeas', 'GR08', 'EL612', 22.3822, 39.2960, 160.0],
  ['Σοφάδες', 'Sofades', 'enipeas', 'GR08', null, 22.0977, 39.3360, 105.0],
  ['Ζωγράφου (ΕΜΠ)', 'Zografou (NTUA)', 'kifisos', 'GR06', 'EL30', 23.7870, 37.9735, 219.0],
  ['Κηφισιά', 'Kifisia', 'kifisos', 'GR06', 'EL305', 23.8101, 38.0749, 260.0],
  ['Πάρνηθα', 'Parnitha', 'kifisos', 'GR06', 'EL305', 23.6796, 38.1729, 1010.0],
  ['Άνω Λιόσια', 'Ano Liosia', 'kifisos', 'GR06', 'EL30', 23.6997, 38.0802, 180.0],
  ['Πειραιάς', 'Piraeus', null, 'GR06', 'EL30', 23.6470, 37.9420, 5.2],
  ['Κοζάνη', 'Kozani', 'aliakmonas', 'GR10', null, 21.7873, 40.3007, 625.0],
  ['Βέροια', 'Veria', 'aliakmonas', 'GR10', 'EL52', 22.2020, 40.5247, 130.0],
  ['Πολύφυτο', 'Polyfyto', 'aliakmonas', 'GR10', null, 21.9522, 40.2333, 296.0],
  ['Σέρβια', 'Servia', 'aliakmonas', 'GR10', null, 22.0006, 40.1827, 440.0],
  ['Καστοριά', 'Kastoria', 'aliakmonas', 'GR10', null, 21.2683, 40.5167, 630.0],
  ['Θεσσαλονίκη (Μίκρα)', 'Thessaloniki (Mikra)', null, 'GR10', 'EL522', 22.9744, 40.5197, 4.0],
  ['Μεσολόγγι', 'Mesolongi', null, 'GR04', 'EL631', 21.4279, 38.3714, 2.0],
  ['Πλαστήρας (φράγμα)', 'Plastiras dam', null, null, null, 21.7382, 39.2378, 792.0],
];
const owners = [...persons, ...orgs, ...bareLentities.map((r) => ({ root: r }))];
const stations = stationRows.map(([n, na, wb, wd, pd, lon, lat, alt], i) => {
  const start = chance(0.85) ? randomDate(1950, 2012) : null;
  const ended = start !== null && chance(0.25);
  // Owners: organisations own most stations, persons some, a bare Lentity a couple.
  const owner = i < 2 ? orgs[0] : i === 2 ? persons[0] : i === 3 ? { root: bareLentities[0] } : chance(0.7) ? pick(orgs) : pick(owners);
  return mti([
    [
      'Gentity',
      gentityFields(n, na, {
        short_name: chance(0.5) ? `ST${pad(i + 1, 3)}` : '',
        water_basin: wb ? WB[wb].leaf : null,
        water_division: wd ? WD[wd].leaf : null,
        political_division: pd ? PD[pd].leaf : null,
        remarks: chance(0.2) ? 'Σταθμός σε λειτουργία από το δίκτυο του υδατικού διαμερίσματος.' : '',
        remarks_alt: '',
      }),
    ],
    ['Gpoint', point(lon, lat, chance(0.9) ? alt : null)],
    [
      'Station',
      {
        owner: ref(owner.root), // NOT NULL FK into Lentity, whatever the row's subtype
        type: ref(pick(stationTypes)),
        is_automatic: chance(0.4),
        is_active: !ended && chance(0.85),
        start_date: start,
        end_date: ended ? randomDate(Number(start.slice(0, 4)) + 1, 2023) : null,
      },
    ],
  ]);
});

// Points that are not stations (river cross-sections), used as Gline ends.
const crossSections = [
  ['Διατομή Αχελώου Α', 'Acheloos cross-section A', 'acheloos', 21.3902, 38.7001, 98.0],
  ['Διατομή Αχελώου Β', 'Acheloos cross-section B', 'acheloos', 21.3400, 38.6500, 61.4],
  ['Υδροληψία Μόρνου', 'Mornos intake', 'mornos', 22.1200, 38.5230, 440.0],
  ['Έξοδος σήραγγας Γκιώνας', 'Giona tunnel outlet', 'mornos', 22.4501, 38.4710, 330.5],
  ['Διατομή Πηνειού Τεμπών', 'Pinios Tempi cross-section', 'pinios', 22.5900, 39.8870, 31.0],
  ['Πηγή Κεφαλοβρύσου', 'Kefalovryso spring', null, 21.9000, 39.9300, null],
].map(([n, na, wb, lon, lat, alt]) =>
  mti([
    ['Gentity', gentityFields(n, na, { water_basin: wb ? WB[wb].leaf : null })],
    ['Gpoint', point(lon, lat, alt)],
  ]),
);

const stationByAlt = (na) => stations.find((s) => s.root.fields.name_alt === na);
// Gline ends are FKs to Gpoint: some are Stations (the Gpoint level of an MTI chain).
const glines = [
  ['Κοίτη Αχελώου Κρεμαστά–Καστράκι', 'Acheloos reach Kremasta–Kastraki', stationByAlt('Kremasta').recs[1], stationByAlt('Kastraki').recs[1], 23.6],
  ['Κοίτη Αχελώου Α–Β', 'Acheloos reach A–B', crossSections[0].leaf, crossSections[1].leaf, 7.85],
  ['Αγωγός Μόρνου', 'Mornos aqueduct', crossSections[2].leaf, crossSections[3].leaf, 188.2],
  ['Κοίτη Πηνειού κατάντη Λάρισας', 'Pinios reach downstream of Larisa', stationByAlt('Larisa').recs[1], null, null],
].map(([n, na, p1, p2, length]) =>
  mti([
    ['Gentity', gentityFields(n, na)],
    ['Gline', { length, gpoint1: p1 ? ref(p1) : null, gpoint2: p2 ? ref(p2) : null }],
  ]),
);

// Gentity pks: shuffled over every kind, then a few swaps so that the self-references point
// forward (child pk < parent pk), as they do in real, hand-edited databases.
const gentityRoots = objects.get('Gentity');
shuffle(gentityRoots).forEach((rec, i) => (rec.pk = i + 1));
function ensureForward(child, parent) {
  if (child.root.pk > parent.root.pk) {
    const p = child.root.pk;
    child.root.pk = parent.root.pk;
    parent.root.pk = p;
  }
}
ensureForward(WB.trichonida, WB.acheloos);
ensureForward(WB.enipeas, WB.pinios);
ensureForward(PD.EL61, PD.EL);
ensureForward(PD.EL612, PD.EL61); // last, so this pair surely points forward
if (!(WB.trichonida.root.pk < WB.acheloos.root.pk && WB.enipeas.root.pk < WB.pinios.root.pk && PD.EL612.root.pk < PD.EL61.root.pk)) {
  throw new Error('sample lost its forward self-references; change the seed');
}
// MTI children share their root's pk.
for (const chainList of [persons, orgs, Object.values(WD), Object.values(PD), Object.values(WB), bareGareas, bareGentities, stations, crossSections, glines]) {
  for (const c of chainList) for (const r of c.recs) r.pk = c.root.pk;
}

// ---------------------------------------------------------------- things attached to gentities

const allStationsShuffled = shuffle(stations);
const basins = Object.values(WB);

// Through m2m: Overseer rows (Station.overseers -> Person).
const overseerPairs = new Set();
for (let i = 0; i < 26; i++) {
  const s = i < 20 ? allStationsShuffled[i % allStationsShuffled.length] : pick(stations.slice(0, 6));
  const p = pick(persons);
  const key = `${stations.indexOf(s)}/${persons.indexOf(p)}`;
  if (overseerPairs.has(key)) continue;
  overseerPairs.add(key);
  const start = chance(0.8) ? randomDate(1990, 2020) : null;
  const current = chance(0.6);
  add('Overseer', {
    station: ref(s.leaf),
    person: ref(p.leaf),
    is_current: current,
    start_date: start,
    end_date: !current && start ? randomDate(Number(start.slice(0, 4)) + 1, 2023) : null,
  });
}
numberSequentially('Overseer');

// Alternative codes: stations and a couple of basins.
for (const s of stations.slice(0, 14)) {
  add('GentityAltCode', { gentity: ref(s.root), type: ref(altCodeTypes[0]), value: String(int(10000, 99999)) });
  if (chance(0.3)) add('GentityAltCode', { gentity: ref(s.root), type: ref(altCodeTypes[1]), value: `16${int(600, 799)}` });
}
add('GentityAltCode', { gentity: ref(WB.acheloos.root), type: ref(altCodeTypes[2]), value: 'ΑΧ-01' });
add('GentityAltCode', { gentity: ref(WB.mornos.root), type: ref(altCodeTypes[2]), value: 'ΜΟ-02' });
numberSequentially('GentityAltCode');

// Files.
const fileTargets = [...sample(stations, 9), WB.acheloos, bareGareas[0], PD.EL631];
fileTargets.forEach((g, i) => {
  const ft = pick(fileTypes);
  const ext = { 'image/jpeg': 'jpg', 'application/pdf': 'pdf', 'text/plain': 'txt', 'image/png': 'png' }[ft.fields.mime_type];
  add('GentityFile', {
    gentity: ref(g.root),
    file_type: ref(ft),
    date: chance(0.75) ? randomDate(2000, 2023) : null,
    content: `gentityfile/${g.root.fields.name_alt.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '')}_${i + 1}.${ext}`,
    descr: ft.fields.mime_type.startsWith('image/') ? `Άποψη: ${g.root.fields.name}` : `Τεχνική έκθεση: ${g.root.fields.name}`,
    remarks: chance(0.3) ? 'Παραδόθηκε από τον ιδιοκτήτη.' : '',
    descr_alt: ft.fields.mime_type.startsWith('image/') ? `View: ${g.root.fields.name_alt}` : `Technical report: ${g.root.fields.name_alt}`,
    remarks_alt: '',
  });
});
numberSequentially('GentityFile');

// Events (date is NOT NULL).
const users = ['gpapadopoulos', 'mgeorgiou', 'nnikolaou', 'admin', 'ntua-field'];
const reports = [
  ['Καθαρισμός χοάνης βροχομέτρου.', 'Rain gauge funnel cleaned.'],
  ['Αντικατάσταση μπαταρίας καταγραφικού.', 'Logger battery replaced.'],
  ['Βαθμονόμηση αισθητήρα στάθμης.', 'Water level sensor calibrated.'],
  ['Διακοπή καταγραφής λόγω κεραυνού.', 'Recording interrupted by lightning.'],
  ['Τακτική επίσκεψη· καμία παρατήρηση.', 'Routine visit; nothing to report.'],
];
for (let i = 0; i < 22; i++) {
  const g = i < 20 ? pick(stations) : basins[i - 20];
  const [r, ra] = pick(reports);
  add('GentityEvent', {
    gentity: ref(g.root),
    type: ref(pick(eventTypes)),
    date: randomDate(2005, 2024),
    user: pick(users),
    report: r,
    report_alt: chance(0.6) ? ra : '',
  });
}
numberSequentially('GentityEvent');

// Instruments.
const manufacturers = [
  ['Campbell Scientific', 'CR1000', 6],
  ['Vaisala', 'HMP155', 3],
  ['Thies Clima', '4.4000.10', 4],
  ['OTT Hydromet', 'Pluvio²', 0],
  ['Lambrecht', '1518 H3', 0],
  ['Texas Electronics', 'TR-525M', 0],
  ['Seba Hydrometrie', 'MDS-5', 5],
  ['Young', '05103', 4],
];
const instruments = [];
for (let i = 0; i < 26; i++) {
  const s = stations[i % 18];
  const [manufacturer, model, typeIdx] = pick(manufacturers);
  const start = chance(0.8) ? randomDate(1995, 2020) : null;
  const active = chance(0.75);
  const inst = add('Instrument', {
    station: ref(s.leaf),
    type: ref(instrumentTypes[typeIdx]),
    manufacturer,
    model,
    is_active: active,
    start_date: start,
    end_date: !active && start ? randomDate(Number(start.slice(0, 4)) + 1, 2024) : null,
    name: `${instrumentTypes[typeIdx].fields.descr} ${s.root.fields.name}`.slice(0, 100),
    remarks: chance(0.25) ? 'Σειριακός αριθμός στο ημερολόγιο σταθμού.' : '',
    name_alt: `${instrumentTypes[typeIdx].fields.descr_alt} ${s.root.fields.name_alt}`.slice(0, 100),
    remarks_alt: '',
  });
  instruments.push({ inst, station: s, typeIdx });
}
numberSequentially('Instrument');

// Time series.
const variableForType = { 0: 'Precipitation', 1: 'Precipitation', 2: 'Air temperature', 3: 'Relative humidity', 4: 'Wind speed', 5: 'Water level', 6: 'Atmospheric pressure' };
const tsName = (v, step) => `${v.fields.descr}${step ? ` - ${step.fields.descr.toLowerCase()}` : ''}`;
// From instruments: the series is measured by an instrument of the same station.
for (const { inst, station, typeIdx } of instruments) {
  const v = V[variableForType[typeIdx]];
  const step = chance(0.8) ? pick(timeSteps) : null;
  add('Timeseries', {
    gentity: ref(station.root),
    variable: ref(v),
    unit_of_measurement: ref(pick(unitsFor(v))),
    time_zone: ref(chance(0.8) ? timeZones[0] : pick(timeZones)),
    instrument: ref(inst),
    time_step: step ? ref(step) : null,
    name: tsName(v, step),
    precision: chance(0.7) ? int(0, 2) : null,
    remarks: '',
    nominal_offset_minutes: step && step.fields.length_minutes ? 0 : null,
    nominal_offset_months: step && step.fields.length_months ? 0 : null,
    actual_offset_minutes: step ? pick([0, 10, 60, 480]) : null,
    actual_offset_months: step && step.fields.length_months ? pick([0, 1]) : null,
  });
}
// Without instrument: station series, basin aggregates, a catchment series.
const noInstrumentTargets = [...stations.slice(18), ...sample(stations.slice(0, 18), 8), WB.acheloos, WB.evinos, WB.pinios, bareGareas[0], WD.GR04];
for (const g of noInstrumentTargets) {
  const isArea = !stations.includes(g);
  const v = isArea ? pick([V.Precipitation, V.Evaporation, V.Discharge]) : pick(variables);
  const step = isArea ? pick(timeSteps.filter((t) => t.fields.length_months)) : chance(0.7) ? pick(timeSteps) : null;
  const us = unitsFor(v);
  add('Timeseries', {
    gentity: ref(g.root),
    variable: ref(v),
    unit_of_measurement: ref(us.length ? pick(us) : units[units.length - 2]),
    time_zone: ref(pick(timeZones)),
    instrument: null,
    time_step: step ? ref(step) : null,
    name: isArea ? `${v.fields.descr} λεκάνης ${g.root.fields.name}`.slice(0, 200) : tsName(v, step),
    precision: chance(0.5) ? int(0, 3) : null,
    remarks: isArea ? 'Υπολογισμένη με τη μέθοδο Thiessen.' : '',
    nominal_offset_minutes: step && step.fields.length_minutes ? 0 : null,
    nominal_offset_months: step && step.fields.length_months ? 0 : null,
    actual_offset_minutes: step ? 0 : null,
    actual_offset_months: step && step.fields.length_months ? pick([0, 1]) : null,
  });
}
numberSequentially('Timeseries');

// Lookups and plain roots get sequential pks in creation order.
for (const m of ['GentityAltCodeType', 'FileType', 'EventType', 'StationType', 'InstrumentType', 'Variable', 'UnitOfMeasurement', 'TimeZone', 'TimeStep']) {
  numberSequentially(m);
}

// ---------------------------------------------------------------- serialise

function resolve(v) {
  if (v && typeof v === 'object' && '$ref' in v) {
    if (typeof v.$ref.pk !== 'number') throw new Error(`unresolved reference to ${v.$ref.model}`);
    return v.$ref.pk;
  }
  if (Array.isArray(v)) return v.map(resolve).sort((a, b) => a - b);
  return v;
}

const out = [];
for (const [name, md] of Object.entries(MODELS)) {
  if (md.private) continue;
  const recs = objects.get(name);
  const declared = new Set([...Object.keys(md.fields), ...Object.keys(md.fk ?? {}), ...Object.entries(md.m2m ?? {}).filter(([, m]) => m.table).map(([k]) => k)]);
  if (!md.parent) declared.add('original_id').add('original_db');
  const seen = new Set();
  for (const rec of [...recs].sort((a, b) => a.pk - b.pk)) {
    if (!Number.isInteger(rec.pk)) throw new Error(`${name}: record without pk`);
    if (seen.has(rec.pk)) throw new Error(`${name}: duplicate pk ${rec.pk}`);
    seen.add(rec.pk);
    for (const k of declared) if (!(k in rec.fields)) throw new Error(`${name} ${rec.pk}: missing field ${k}`);
    const fields = {};
    for (const [k, v] of Object.entries(rec.fields)) {
      if (!declared.has(k)) throw new Error(`${name} ${rec.pk}: undeclared field ${k}`);
      fields[k] = resolve(v);
    }
    out.push({ model: `hcore.${name.toLowerCase()}`, pk: rec.pk, fields });
  }
}

mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, '[\n' + out.map((o) => JSON.stringify(o)).join(',\n') + '\n]\n');
process.stdout.write(`wrote ${out.length} objects to ${OUT}\n`);
