// The built-in zstd dictionary of raw JSON codec 3 (see raw_codec.h): raw
// content, four hand-written Strava activities (walk, run, gravel ride,
// virtual ride) in the field order of a real API response, polylines cut out
// as codec 3 cuts them. These bytes are part of the file format: never edit
// them (a new dictionary needs a new codec); raw_codec_test pins their hash.
#include "adapters/sqlite/raw_codec.h"

namespace dl::adapters::sqlite {

std::string_view RawDictionaryV1() {
  static constexpr std::string_view kDictionary =
    R"dict({"resource_state":2,"athlete":{"id":1234567,"resource_state":1},"name":"Afternoon Walk","distance":4)dict"
    R"dict(020.5,"moving_time":2890,"elapsed_time":3105,"total_elevation_gain":12.0,"type":"Walk","sport_type":)dict"
    R"dict("Walk","workout_type":null,"id":10123456789,"start_date":"2024-03-09T15:02:11Z","start_date_local":")dict"
    R"dict(2024-03-09T16:02:11Z","timezone":"(GMT+01:00) Europe/Berlin","utc_offset":3600.0,"location_city":nul)dict"
    R"dict(l,"location_state":null,"location_country":null,"achievement_count":0,"kudos_count":3,"comment_count)dict"
    R"dict(":0,"athlete_count":1,"photo_count":0,"map":{"id":"a10123456789","summary_polyline":"","resource_sta)dict"
    R"dict(te":2},"trainer":false,"commute":false,"manual":false,"private":false,"visibility":"followers_only",)dict"
    R"dict("flagged":false,"gear_id":null,"start_latlng":[52.520008,13.404954],"end_latlng":[52.51631,13.37777])dict"
    R"dict(,"average_speed":1.391,"max_speed":2.1,"has_heartrate":false,"heartrate_opt_out":false,"display_hide)dict"
    R"dict(_heartrate_option":false,"elev_high":48.2,"elev_low":33.0,"upload_id":10876543210,"upload_id_str":"1)dict"
    R"dict(0876543210","external_id":"garmin_ping_312345678901","from_accepted_tag":false,"pr_count":0,"total_p)dict"
    R"dict(hoto_count":0,"has_kudoed":false}{"resource_state":2,"athlete":{"id":1234567,"resource_state":1},"na)dict"
    R"dict(me":"Evening Run","distance":10234.7,"moving_time":3012,"elapsed_time":3190,"total_elevation_gain":8)dict"
    R"dict(7.3,"type":"Run","sport_type":"Run","workout_type":0,"id":10123456790,"start_date":"2024-03-10T18:30)dict"
    R"dict(:00Z","start_date_local":"2024-03-10T14:30:00Z","timezone":"(GMT-05:00) America/New_York","utc_offse)dict"
    R"dict(t":-14400.0,"location_city":null,"location_state":null,"location_country":null,"achievement_count":2)dict"
    R"dict(,"kudos_count":14,"comment_count":1,"athlete_count":1,"photo_count":0,"map":{"id":"a10123456790","su)dict"
    R"dict(mmary_polyline":"","resource_state":2},"trainer":false,"commute":false,"manual":false,"private":fals)dict"
    R"dict(e,"visibility":"everyone","flagged":false,"gear_id":"g12345678","start_latlng":[40.7812,-73.9665],"e)dict"
    R"dict(nd_latlng":[40.77945,-73.96391],"average_speed":3.398,"max_speed":5.6,"average_cadence":86.2,"averag)dict"
    R"dict(e_temp":12,"has_heartrate":true,"average_heartrate":151.4,"max_heartrate":178.0,"heartrate_opt_out":)dict"
    R"dict(false,"display_hide_heartrate_option":true,"elev_high":39.6,"elev_low":4.2,"upload_id":10876543211,")dict"
    R"dict(upload_id_str":"10876543211","external_id":"garmin_ping_312345678902","from_accepted_tag":false,"pr_)dict"
    R"dict(count":1,"total_photo_count":0,"has_kudoed":false,"suffer_score":62.0}{"resource_state":2,"athlete":)dict"
    R"dict({"id":1234567,"resource_state":1},"name":"Morning Ride","distance":61840.2,"moving_time":7421,"elaps)dict"
    R"dict(ed_time":8033,"total_elevation_gain":612.0,"type":"Ride","sport_type":"GravelRide","workout_type":10)dict"
    R"dict(,"id":10123456791,"start_date":"2024-03-11T06:45:12Z","start_date_local":"2024-03-11T07:45:12Z","tim)dict"
    R"dict(ezone":"(GMT+01:00) Europe/Paris","utc_offset":3600.0,"location_city":null,"location_state":null,"lo)dict"
    R"dict(cation_country":null,"achievement_count":5,"kudos_count":27,"comment_count":2,"athlete_count":3,"pho)dict"
    R"dict(to_count":0,"map":{"id":"a10123456791","summary_polyline":"","resource_state":2},"trainer":false,"co)dict"
    R"dict(mmute":false,"manual":false,"private":false,"visibility":"everyone","flagged":false,"gear_id":"b9876)dict"
    R"dict(543","start_latlng":[48.856613,2.352222],"end_latlng":[48.85702,2.35108],"average_speed":8.333,"max_)dict"
    R"dict(speed":15.12,"average_cadence":84.9,"average_temp":9,"average_watts":187.5,"max_watts":612,"weighted)dict"
    R"dict(_average_watts":205,"kilojoules":1391.4,"device_watts":true,"has_heartrate":true,"average_heartrate")dict"
    R"dict(:139.7,"max_heartrate":171.0,"heartrate_opt_out":false,"display_hide_heartrate_option":true,"elev_hi)dict"
    R"dict(gh":181.4,"elev_low":28.6,"upload_id":10876543212,"upload_id_str":"10876543212","external_id":"garmi)dict"
    R"dict(n_ping_312345678903","from_accepted_tag":false,"pr_count":3,"total_photo_count":1,"has_kudoed":false)dict"
    R"dict(,"suffer_score":118.0}{"resource_state":2,"athlete":{"id":1234567,"resource_state":1},"name":"Zwift )dict"
    R"dict(- Watopia","distance":30112.0,"moving_time":3600,"elapsed_time":3600,"total_elevation_gain":301.0,"t)dict"
    R"dict(ype":"VirtualRide","sport_type":"VirtualRide","workout_type":null,"id":10123456792,"start_date":"202)dict"
    R"dict(4-03-12T19:00:03Z","start_date_local":"2024-03-12T20:00:03Z","timezone":"(GMT+01:00) Europe/Amsterda)dict"
    R"dict(m","utc_offset":3600.0,"location_city":null,"location_state":null,"location_country":null,"achieveme)dict"
    R"dict(nt_count":0,"kudos_count":8,"comment_count":0,"athlete_count":1,"photo_count":0,"map":{"id":"a101234)dict"
    R"dict(56792","summary_polyline":"","resource_state":2},"trainer":true,"commute":false,"manual":false,"priv)dict"
    R"dict(ate":true,"visibility":"only_me","flagged":false,"gear_id":"b9876544","start_latlng":[],"end_latlng")dict"
    R"dict(:[],"average_speed":8.364,"max_speed":16.3,"average_cadence":90.1,"average_watts":221.0,"max_watts":)dict"
    R"dict(540,"weighted_average_watts":229,"kilojoules":795.6,"device_watts":true,"has_heartrate":true,"averag)dict"
    R"dict(e_heartrate":146.2,"max_heartrate":169.0,"heartrate_opt_out":false,"display_hide_heartrate_option":t)dict"
    R"dict(rue,"elev_high":112.0,"elev_low":2.0,"upload_id":10876543213,"upload_id_str":"10876543213","external)dict"
    R"dict(_id":"zwift-activity-1548876534123456789","from_accepted_tag":false,"pr_count":0,"total_photo_count")dict"
    R"dict(:0,"has_kudoed":false,"suffer_score":88.0})dict";
  return kDictionary;
}

}  // namespace dl::adapters::sqlite
