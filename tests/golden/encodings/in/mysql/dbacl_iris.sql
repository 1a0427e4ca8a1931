-- MySQL dump 10.13  Distrib 5.7
-- Host: dh-infra-1.old.example.com    Database: dbacl_iris
USE `dbacl_iris`;
INSERT INTO `DbAclServer` VALUES ('dh-infra-1.old.example.com',9030),('10.1.2.11',9030);
INSERT INTO `DbAclUsers` VALUES ('iris','dh-infra-1','all');
