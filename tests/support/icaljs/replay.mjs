// Replays each person's calendar mail with ical.js (Thunderbird's parser), the way an
// RFC 5546 client applies it, and prints what their calendar then shows.
// stdin: {start, end, mail: {person: [ics text, ...]}}; stdout: {person: [[start, end], ...]}
// (UTC, ISO 8601).
import ICAL from "ical.js";
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const windowStart = ICAL.Time.fromDateTimeString(input.start.replace("Z", ""));
const windowEnd = ICAL.Time.fromDateTimeString(input.end.replace("Z", ""));
windowStart.zone = ICAL.Timezone.utcTimezone;
windowEnd.zone = ICAL.Timezone.utcTimezone;

const utc = (time) => time.toJSDate().toISOString().replace(".000Z", "Z");

function shown(messages) {
  const held = new Map(); // UID -> {components: [master, ...overrides], sequence}
  for (const text of messages) {
    const calendar = new ICAL.Component(ICAL.parse(text));
    for (const zone of calendar.getAllSubcomponents("vtimezone")) {
      ICAL.TimezoneService.register(zone);
    }
    const method = calendar.getFirstPropertyValue("method");
    const byUid = new Map();
    for (const vevent of calendar.getAllSubcomponents("vevent")) {
      const uid = vevent.getFirstPropertyValue("uid");
      if (!byUid.has(uid)) byUid.set(uid, []);
      byUid.get(uid).push(vevent);
    }
    for (const [uid, components] of byUid) {
      const masters = components.filter((c) => !c.hasProperty("recurrence-id"));
      const sequence = Math.max(...components.map((c) => c.getFirstPropertyValue("sequence") || 0));
      const before = held.get(uid);
      if (method === "REQUEST") {
        if (masters.length !== 1) throw new Error(`${uid}: an override without its master`);
        if (before && sequence < before.sequence) throw new Error(`${uid}: SEQUENCE went back`);
        held.set(uid, { components: [masters[0], ...components.filter((c) => c !== masters[0])], sequence });
      } else if (method === "CANCEL") {
        if (before && sequence <= before.sequence) throw new Error(`${uid}: CANCEL not above the REQUEST`);
        if (masters.length) {
          held.delete(uid);
        } else if (before) {
          for (const c of components) {
            const rid = c.getFirstPropertyValue("recurrence-id");
            before.components[0].addPropertyWithValue("exdate", rid);
            before.components = before.components.filter(
              (o) => !o.hasProperty("recurrence-id") || o.getFirstPropertyValue("recurrence-id").compare(rid) !== 0,
            );
          }
        }
      } else {
        throw new Error(`unexpected METHOD ${method}`);
      }
    }
  }
  const found = [];
  for (const { components } of held.values()) {
    const event = new ICAL.Event(components[0]);
    for (const override of components.slice(1)) event.relateException(override);
    const add = (start, end, item) => {
      if ((item.component.getFirstPropertyValue("status") || "CONFIRMED") === "CANCELLED") return;
      if (end.compare(windowStart) <= 0 || start.compare(windowEnd) >= 0) return;
      found.push([utc(start), utc(end)]);
    };
    if (!event.isRecurring()) {
      add(event.startDate, event.endDate, event);
      continue;
    }
    const iterator = event.iterator();
    for (let next = iterator.next(); next && next.compare(windowEnd) < 0; next = iterator.next()) {
      const details = event.getOccurrenceDetails(next);
      add(details.startDate, details.endDate, details.item);
    }
  }
  return found.sort();
}

const result = {};
for (const [person, messages] of Object.entries(input.mail)) result[person] = shown(messages);
process.stdout.write(JSON.stringify(result));
