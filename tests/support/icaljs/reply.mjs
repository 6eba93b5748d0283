// Builds the METHOD:REPLY a calendar app sends when its user answers an invite, with ical.js
// (Thunderbird's library), the way Thunderbird's iTIP code does: the invite's VEVENT(s) with
// only the replying ATTENDEE (its PARTSTAT set), METHOD changed to REPLY.
// stdin: {invite: ics text, attendee: "mailto:...", partstat, recurrence_id?: "UTC ISO"}
// stdout: the REPLY's text.
import ICAL from "ical.js";
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const invite = new ICAL.Component(ICAL.parse(input.invite));
const reply = new ICAL.Component(["vcalendar", [], []]);
reply.updatePropertyWithValue("prodid", "-//ical.js reply test//EN");
reply.updatePropertyWithValue("version", "2.0");
reply.updatePropertyWithValue("method", "REPLY");
for (const zone of invite.getAllSubcomponents("vtimezone")) reply.addSubcomponent(zone);
let vevents = invite.getAllSubcomponents("vevent");
vevents = vevents.filter((v) => !v.hasProperty("recurrence-id")).slice(0, 1);
for (const source of vevents) {
  const vevent = new ICAL.Component(source.toJSON());
  for (const name of ["description", "location", "summary", "rrule", "exdate", "categories", "url"]) {
    vevent.removeAllProperties(name);
  }
  vevent.removeAllProperties("attendee");
  const attendee = new ICAL.Property("attendee");
  attendee.setValue(input.attendee);
  attendee.setParameter("partstat", input.partstat);
  vevent.addProperty(attendee);
  vevent.updatePropertyWithValue("dtstamp", ICAL.Time.now());
  if (input.recurrence_id) {
    const time = ICAL.Time.fromDateTimeString(input.recurrence_id.replace("Z", ""));
    time.zone = ICAL.Timezone.utcTimezone;
    vevent.updatePropertyWithValue("recurrence-id", time);
  }
  reply.addSubcomponent(vevent);
}
process.stdout.write(reply.toString());
