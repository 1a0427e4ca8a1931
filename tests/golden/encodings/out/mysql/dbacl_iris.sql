-- MySQL dump 10.13  Distrib 5.7
-- Host: infra-a.new.example.com    Database: dbacl_iris
USE `dbacl_iris`;
INSERT INTO `DbAclServer` VALUES ('infra-a.new.example.com',9030),('10.20.0.11',9030);
INSERT INTO `DbAclUsers` VALUES ('iris','infra-a','all');
