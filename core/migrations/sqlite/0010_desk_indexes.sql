-- The desk's reads (issue 17): the city's figures count alerts by when they were opened, and a
-- resident's page lists the alerts about them and the devices in their home.
CREATE INDEX alerts_opened ON alerts(opened_at);
CREATE INDEX alerts_subject ON alerts(subject, opened_at);
