-- One invocation's full record. Replace the id with a failure event's detail.hook_result_id; adding
-- AND dt = 'YYYY-MM-DD' (the day in the event's archive_uri) makes Athena read that one day only.
SELECT *
FROM hook_results
WHERE hook_result_id = '00000000-0000-0000-0000-000000000000'
